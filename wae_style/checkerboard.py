"""Checkerboard measure: the share of an image's spectral power at the upsamplers' periods."""

import numpy as np

from common.errors import DataError

# The decoder's subpixel convs double the size four times: artefacts repeat every 2, 4, 8 px.
PERIODS = (2, 4, 8)


def _as_batch(images, what):
    """(B, H, W, C) float64 from (H, W), (H, W, C) or (B, H, W, C)."""
    x = np.asarray(images, dtype=np.float64)
    if x.ndim == 2:
        x = x[None, :, :, None]
    elif x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or 0 in x.shape:
        raise DataError(f"{what}: need (H, W), (H, W, C) or (B, H, W, C) images, "
                        f"got shape {np.shape(images)}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{what}: images hold NaN or infinite values")
    return x


def _lattice(size, periods, what):
    """Boolean (size,) mask of the FFT bins k * size / p along one axis, for p in periods."""
    mask = np.zeros(size, bool)
    for p in periods:
        if p < 2 or size % p:
            raise DataError(f"{what}: period {p} must be >= 2 and divide the image side {size}")
        mask[:: size // p] = True
    return mask


def checkerboard_share(images, periods=PERIODS, what="images"):
    """Share of each image's non-DC spectral power at the given periods (in pixels).

    The bins are those of the 2D FFT at frequencies k * H / p down and k * W / p across
    (every k, each p), the spectrum of any pattern repeating every p pixels both ways; the
    DC bin is left out of both sums. Power is summed over channels. A circular shift of
    an image leaves its share unchanged; a flat image has share 0.

    Args:
      images: (H, W), (H, W, C) or (B, H, W, C), any real values.
      periods: periods in pixels; each must divide H and W.
      what: the images' name in error messages.

    Returns:
      (B,) float64 shares in [0, 1].

    Raises:
      DataError: a wrong shape, non-finite values or a period that does not divide the side.
    """
    x = _as_batch(images, what)
    _, h, w, _ = x.shape
    on = _lattice(h, periods, what)[:, None] & _lattice(w, periods, what)[None, :]  # (H, W)
    on[0, 0] = False  # DC.
    power = np.sum(np.abs(np.fft.fft2(x, axes=(1, 2))) ** 2, axis=-1)  # (B, H, W)
    power[:, 0, 0] = 0.0
    total = power.sum(axis=(1, 2))
    peaks = np.sum(power * on, axis=(1, 2))
    return np.divide(peaks, total, out=np.zeros_like(total), where=total > 0)


def checkerboard_ratio(outputs, contents, periods=PERIODS):
    """Mean checkerboard share of the outputs over that of their content (input) images.

    About 1: the outputs have as much power at the upsamplers' periods as the inputs;
    above 1: the decoder adds a grid.

    Args:
      outputs: the model's images, (B, H, W, C) (or one image).
      contents: the content images they were made from, same side lengths.
      periods: as in checkerboard_share.

    Returns:
      A float.

    Raises:
      DataError: as checkerboard_share, different side lengths, or content images with no
        power at those periods (the ratio is undefined).
    """
    outputs, contents = _as_batch(outputs, "outputs"), _as_batch(contents, "contents")
    if outputs.shape[1:3] != contents.shape[1:3]:
        raise DataError(f"outputs are {outputs.shape[1]}x{outputs.shape[2]} but contents are "
                        f"{contents.shape[1]}x{contents.shape[2]}: the shares are not comparable")
    out = checkerboard_share(outputs, periods, "outputs")
    ref = checkerboard_share(contents, periods, "contents")
    if ref.mean() <= 0:
        raise DataError("contents have no spectral power at periods "
                        f"{tuple(periods)}: the checkerboard ratio is undefined")
    return float(out.mean() / ref.mean())
