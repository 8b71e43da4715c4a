"""Image batches for style transfer: checking them, pairing content with style, batching, grids."""

import numpy as np

from common.errors import DataError
from common.images.grid import image_grid


def as_image_batch(images, size, name="images"):
    """(N, size, size, 3) float32 in [0, 1] from one image or a batch (uint8 is divided by 255).

    Raises:
      DataError: wrong shape, or float values outside [0, 1]; the message names `name`.
    """
    arr = np.asarray(images)
    if arr.dtype == np.uint8:
        arr = arr.astype(np.float32) / 255.0
    arr = arr.astype(np.float32)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[1:] != (size, size, 3) or len(arr) == 0:
        raise DataError(f"{name}: expected ({size}, {size}, 3) or (N, {size}, {size}, 3) "
                        f"images, got shape {np.asarray(images).shape}")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"{name}: float images must lie in [0, 1], got non-finite values")
    if arr.min() < 0.0 or arr.max() > 1.0:
        raise DataError(f"{name}: float images must lie in [0, 1], got range "
                        f"[{arr.min()}, {arr.max()}]")
    return arr


def pair_indices(n_a, n_b, what):
    """(n, rows of a, rows of b) pairing two batches: equal sizes, or one of them 1.

    Raises:
      DataError: sizes that neither match nor broadcast.
    """
    if n_a != n_b and 1 not in (n_a, n_b):
        raise DataError(f"{what}: cannot pair {n_a} with {n_b} images; need equal counts or 1")
    n = max(n_a, n_b)
    return n, np.arange(n) % n_a, np.arange(n) % n_b


def batched(fn, n, batch_size, *arrays):
    """fn over `batch_size` rows of `arrays` at a time; the outputs concatenated (numpy)."""
    out = []
    for start in range(0, n, batch_size):
        out.append(np.asarray(fn(*[a[start:start + batch_size] for a in arrays])))
    return np.concatenate(out, axis=0)


def transfer_grid(transfer, contents, styles, pad=2):
    """A uint8 grid: first row the styles, first column the contents, cell (i, j) the transfer.

    Args:
      transfer: (content (N, S, S, 3), style (N, S, S, 3)) -> (N, S, S, 3) images.
      contents, styles: (Nc, S, S, 3) and (Ns, S, S, 3) checked image batches.
      pad: border width in pixels.

    Returns:
      common.images.grid.image_grid's uint8 image with Nc + 1 rows and Ns + 1 columns; the
      top-left cell is white.
    """
    size = contents.shape[1]
    pairs_c = np.repeat(contents, len(styles), axis=0)  # (Nc*Ns, S, S, 3), content-major
    pairs_s = np.tile(styles, (len(contents), 1, 1, 1))
    out = np.asarray(transfer(pairs_c, pairs_s)).reshape(len(contents), len(styles), size, size, 3)
    rows = [np.concatenate([np.ones((1, size, size, 3), np.float32), styles])]
    rows += [np.concatenate([contents[i:i + 1], out[i]]) for i in range(len(contents))]
    return image_grid(np.concatenate(rows), ncols=len(styles) + 1, pad=pad)
