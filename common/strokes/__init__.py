"""Stroke data: formats, RDP and QuickDraw, the safe .npz loader, datasets, doodles, rendering.

Never imports a model package, common.training, common.scorer or an application.
"""
