"""The model-agnostic training engine: loop, steps, checkpoints, workdir lock, config base.

Also strategies, schedules, memory and metric plots.
Never imports a model package, common.strokes, common.images, common.scorer or an
application.
"""
