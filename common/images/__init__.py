"""Image data: files and folders, TFDS sources, pipelines, built-in images, grids and PNGs.

Never imports common.strokes, a model package, common.training, scorer or studio.
"""
