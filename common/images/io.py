"""Image files: loading with Pillow (with safety checks), centre crops, whole folders."""

import dataclasses
import os
import warnings

import numpy as np
from absl import logging
from PIL import Image, ImageOps, UnidentifiedImageError

from common import limits
from common.errors import DataError, UnsafeFileError

# Decompression-bomb guard: images declaring more pixels than this are refused unread (the
# header is read, never the pixels; Pillow's own, larger Image.MAX_IMAGE_PIXELS is left as is).
MAX_IMAGE_PIXELS = limits.MAX_IMAGE_PIXELS

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def to_rgb_array(img):
    """Converts a loaded Pillow image of any common mode to float32 (H, W, 3) in [0, 1]."""
    mode = img.mode
    if mode.startswith("I;16"):
        grey = np.asarray(img, dtype=np.float32) / 65535.0
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "I":
        grey = np.clip(np.asarray(img, dtype=np.float32), 0, 65535) / 65535.0
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "F":
        grey = np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)
        return np.repeat(grey[..., None], 3, axis=-1)
    if mode == "P":
        mode = "RGBA" if "transparency" in img.info else "RGB"
        img = img.convert(mode)
    if mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.float32) / 255.0


def load_image(path, size=64, max_pixels=None, crop="resize"):
    """Loads one image as RGB, centre-cropped to a square and resized (see crop_resize).

    Conversions to RGB:
      - "1" (bilevel), "L" (grey): grey repeated to three channels.
      - "P" (palette): expanded through the palette; with a transparency entry it is
        treated as RGBA (below).
      - "LA", "PA", "RGBA" (and premultiplied "La", "RGBa"): alpha-composited on white.
      - "CMYK", "YCbCr", "LAB", "HSV": Pillow's convert("RGB") (no ICC colour management).
      - "I;16*" (16-bit grey): divided by 65535. "I" (32-bit int, how Pillow may open
        16-bit PNGs): clipped to 0..65535 and divided by 65535. "F": clipped to [0, 1].
    EXIF orientation is applied first. Large JPEGs are DCT-downscaled while decoding
    (Pillow draft mode) to no less than twice the target size.

    Args:
        path: image file.
        size: output side in pixels, or None to keep the centre crop's full resolution.
        max_pixels: decompression-bomb cap on declared width * height (default
            MAX_IMAGE_PIXELS).
        crop: "resize" (the centre square, resized) or "center" (the central size x size
            pixels, unscaled); see crop_resize.

    Returns:
        float32 (size, size, 3) array in [0, 1].

    Raises:
        UnsafeFileError: the image declares more than max_pixels pixels.
        DataError: missing, empty, truncated or non-image file (the message names it), or
            size above limits.MAX_IMAGE_SIDE.
    """
    path = os.fspath(path)
    cap = MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
    if size is not None:
        limits.check(size, limits.MAX_IMAGE_SIDE, f"{path}: output size")
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such image file")
    if os.path.getsize(path) == 0:
        raise DataError(f"{path}: empty file (0 bytes)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                w, h = img.size
                if w * h > cap:
                    raise UnsafeFileError(
                        f"{path}: {w}x{h} = {w * h} pixels exceeds the cap of {cap}")
                if size is not None and img.format == "JPEG" and crop == "resize":
                    img.draft(None, (2 * int(size), 2 * int(size)))
                img.load()
                img = ImageOps.exif_transpose(img)
                arr = to_rgb_array(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnsafeFileError(f"{path}: refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a recognised image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot decode image ({e})") from None
    return crop_resize(arr, size, path, crop)


CROPS = ("resize", "center")


def crop_resize(arr, size, path, crop="resize"):
    """A square of float (H, W, 3) at `size` (None: the centre square, full resolution).

    crop="resize": the centre square, LANCZOS-resized to size. crop="center": the central
    size x size pixels, unscaled (the WAE seed's ImageNet crops); an image whose shorter
    side is below size is resized as with "resize".
    """
    if crop not in CROPS:
        raise DataError(f"crop={crop!r}: use one of {CROPS}")
    h, w = arr.shape[:2]
    side = min(h, w)
    if side == 0:
        raise DataError(f"{path}: image has zero width or height")
    if crop == "center" and size is not None and side > int(size):
        side = int(size)
    y0, x0 = (h - side) // 2, (w - side) // 2
    crop = arr[y0:y0 + side, x0:x0 + side]
    if size is None or side == int(size):
        return np.ascontiguousarray(crop, dtype=np.float32)
    size = int(size)
    chans = [Image.fromarray(np.ascontiguousarray(crop[..., c]), mode="F")
             .resize((size, size), Image.Resampling.LANCZOS) for c in range(3)]
    out = np.stack([np.asarray(c, dtype=np.float32) for c in chans], axis=-1)
    return np.clip(out, 0.0, 1.0)


@dataclasses.dataclass
class ImageFolder:
    """Images loaded from files.

    Attributes:
        images: float32 (N, size, size, 3) in [0, 1].
        paths: the N files, in the order of `images`.
        skipped: (path, reason) for each file that could not be loaded.
    """
    images: np.ndarray
    paths: list
    skipped: list


def _list_files(root, recursive, extensions):
    exts = tuple(e.lower() for e in extensions)
    found = []
    if recursive:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            found.extend(os.path.join(dirpath, f) for f in filenames
                         if not f.startswith(".") and f.lower().endswith(exts))
    else:
        found = [os.path.join(root, f) for f in os.listdir(root)
                 if not f.startswith(".") and f.lower().endswith(exts)
                 and os.path.isfile(os.path.join(root, f))]
    return sorted(found)


def load_image_folder(paths, size=64, recursive=True, extensions=DEFAULT_EXTENSIONS,
                      max_pixels=None, crop="resize"):
    """Loads every image under the given folders (and any files named directly).

    Folders are searched (recursively by default) for files whose extension matches,
    case-insensitively; hidden files and folders (leading ".") are ignored. Files are
    sorted per argument, duplicates dropped, so the order is deterministic. Files that
    fail to load are skipped, logged and listed in `skipped`.

    Args:
        paths: a folder or file path, or a sequence of them.
        size: output side in pixels.
        recursive: whether to descend into subfolders.
        extensions: file name endings to accept in folders.
        max_pixels, crop: as in `load_image`.

    Returns:
        ImageFolder.

    Raises:
        DataError: a path does not exist.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if size is None:
        raise DataError("load_image_folder: size must be an int (images are stacked)")
    files = []
    for p in paths:
        p = os.fspath(p)
        if os.path.isdir(p):
            files.extend(_list_files(p, recursive, extensions))
        elif os.path.isfile(p):
            files.append(p)
        else:
            raise DataError(f"{p}: no such image folder or file")
    files = list(dict.fromkeys(files))
    images, loaded, skipped = [], [], []
    for f in files:
        try:
            images.append(load_image(f, size=size, max_pixels=max_pixels, crop=crop))
            loaded.append(f)
        except DataError as e:
            logging.warning("Skipping image %s: %s", f, e)
            skipped.append((f, str(e)))
    if skipped:
        logging.warning("Skipped %d of %d image files.", len(skipped), len(files))
    arr = (np.stack(images) if images
           else np.zeros((0, int(size), int(size), 3), dtype=np.float32))
    return ImageFolder(images=arr.astype(np.float32, copy=False), paths=loaded,
                       skipped=skipped)


# ----------------------------------------------------------------------------- TFDS
