"""What Sketch RNN and the WAE share: stroke and image data, training engine, scorer, studio.

Subpackages (each says what it must never import): strokes, images, training, scorer,
studio; plus the tiny shared modules errors, files (atomic writes), exports (finding
SavedModels by kind) and cli (the scripts' error exit). See docs/architecture.md.
"""
