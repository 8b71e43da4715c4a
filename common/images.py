"""Image loading (Pillow, with safety checks), folder loading, in-memory pipelines, TFDS sources."""

import dataclasses
import math
import os
import warnings

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image, ImageOps, UnidentifiedImageError

from common.errors import DataError, UnsafeFileError

# Decompression-bomb guard: images declaring more pixels than this are refused unread.
MAX_IMAGE_PIXELS = 64_000_000

DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")

_ALPHA_MODES = ("LA", "La", "PA", "RGBA", "RGBa")


def _to_rgb_array(img):
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


def load_image(path, size=64, max_pixels=None):
    """Loads one image as RGB, centre-cropped to a square and resized.

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

    Returns:
        float32 (size, size, 3) array in [0, 1].

    Raises:
        UnsafeFileError: the image declares more than max_pixels pixels.
        DataError: missing, empty, truncated or non-image file (the message names it).
    """
    path = os.fspath(path)
    cap = MAX_IMAGE_PIXELS if max_pixels is None else int(max_pixels)
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
                if size is not None and img.format == "JPEG":
                    img.draft(None, (2 * int(size), 2 * int(size)))
                img.load()
                img = ImageOps.exif_transpose(img)
                arr = _to_rgb_array(img)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UnsafeFileError(f"{path}: refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise DataError(f"{path}: not a recognised image file") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: cannot decode image ({e})") from None
    return _crop_resize(arr, size, path)


def _crop_resize(arr, size, path):
    """Centre square crop of float (H, W, 3), then LANCZOS resize to size (None: no resize)."""
    h, w = arr.shape[:2]
    side = min(h, w)
    if side == 0:
        raise DataError(f"{path}: image has zero width or height")
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
                      max_pixels=None):
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
        max_pixels: as in `load_image`.

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
            images.append(load_image(f, size=size, max_pixels=max_pixels))
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


class ImagePipeline:
    """Deterministic batches from an in-memory image array.

    The images are read as an endless stream of epochs, each a permutation drawn from
    np.random.default_rng([seed, epoch]); batch `step` is stream items
    [step * batch_size, (step + 1) * batch_size). So a batch is a pure function of
    (seed, step), batches may span epochs, and batch_size may exceed N.

    Args:
        images: float32 (N, H, W, C), N >= 1.
        batch_size: images per batch.
        seed: non-negative int.
    """

    def __init__(self, images, batch_size, seed=0):
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4 or images.shape[0] == 0:
            raise DataError(f"ImagePipeline: need (N, H, W, C) images with N >= 1, "
                            f"got shape {images.shape}")
        if int(batch_size) < 1:
            raise DataError(f"ImagePipeline: batch_size must be >= 1, got {batch_size}")
        if int(seed) < 0:
            raise DataError(f"ImagePipeline: seed must be >= 0, got {seed}")
        self.images = images
        self.batch_size = int(batch_size)
        self.seed = int(seed)
        self._perm_cache = {}

    @property
    def num_images(self):
        return self.images.shape[0]

    @property
    def steps_per_epoch(self):
        return math.ceil(self.num_images / self.batch_size)

    def _permutation(self, epoch):
        perm = self._perm_cache.get(epoch)
        if perm is None:
            perm = np.random.default_rng([self.seed, epoch]).permutation(self.num_images)
            if len(self._perm_cache) > 8:
                self._perm_cache.clear()
            self._perm_cache[epoch] = perm
        return perm

    def indices(self, step):
        """int64 (batch_size,) image indices of batch `step`."""
        step = int(step)
        if step < 0:
            raise DataError(f"ImagePipeline: step must be >= 0, got {step}")
        n = self.num_images
        stream = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epochs, pos = np.divmod(stream, n)
        out = np.empty(self.batch_size, dtype=np.int64)
        for e in np.unique(epochs):
            sel = epochs == e
            out[sel] = self._permutation(int(e))[pos[sel]]
        return out

    def batch(self, step):
        """float32 (batch_size, H, W, C) batch number `step`."""
        return self.images[self.indices(step)]

    def dataset(self, start_step=0):
        """Endless, prefetched tf.data.Dataset of batches start_step, start_step + 1, ..."""
        shape = (self.batch_size,) + self.images.shape[1:]

        def fetch(step):
            out = tf.numpy_function(lambda s: self.batch(int(s)), [step], tf.float32)
            out.set_shape(shape)
            return out

        ds = tf.data.Dataset.counter(start=int(start_step), dtype=tf.int64)
        ds = ds.map(fetch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return ds.prefetch(tf.data.AUTOTUNE)


# ----------------------------------------------------------------------------- TFDS

# CelebA crop: square side = FACE_SCALE * max(inter-ocular distance, eye-to-mouth distance).
FACE_SCALE = 2.8


def _tf_square_resize(img, size):
    """Resizes a square uint8/float image tensor to float32 (size, size, 3) in [0, 1]."""
    img = tf.image.convert_image_dtype(img, tf.float32)
    img = tf.image.resize(img, (size, size), method="bicubic", antialias=True)
    return tf.clip_by_value(img, 0.0, 1.0)


def _tf_rgb(img):
    """Grey (H, W, 1) -> (H, W, 3); RGBA -> RGB (alpha dropped)."""
    c = img.shape[-1]
    if c == 1:
        return tf.image.grayscale_to_rgb(img)
    if c == 4:
        return img[..., :3]
    return img


def _tf_centre_square(img):
    shape = tf.shape(img)
    h, w = shape[0], shape[1]
    side = tf.minimum(h, w)
    return tf.image.crop_to_bounding_box(img, (h - side) // 2, (w - side) // 2, side, side)


def celeba_face_box(landmarks, height, width, face_scale=FACE_SCALE):
    """Square face box from CelebA landmarks, clamped inside the image.

    Args:
        landmarks: dict of scalar tensors lefteye_x/_y, righteye_x/_y, leftmouth_x/_y,
            rightmouth_x/_y (nose is not used), in pixels.
        height, width: image size (int32 scalars).
        face_scale: box side = face_scale * max(inter-ocular, eye-to-mouth distance).

    Returns:
        (y0, x0, side, fraction): int32 top-left and side of the clamped box, and the
        unclamped side as a fraction of min(height, width) (a face-size measure).
    """
    f = {k: tf.cast(v, tf.float32) for k, v in landmarks.items()}
    le = tf.stack([f["lefteye_x"], f["lefteye_y"]])
    re = tf.stack([f["righteye_x"], f["righteye_y"]])
    eyes = (le + re) / 2.0
    mouth = (tf.stack([f["leftmouth_x"], f["leftmouth_y"]])
             + tf.stack([f["rightmouth_x"], f["rightmouth_y"]])) / 2.0
    scale = tf.maximum(tf.norm(re - le), tf.norm(mouth - eyes))
    raw_side = face_scale * scale
    limit = tf.cast(tf.minimum(height, width), tf.float32)
    fraction = raw_side / limit
    side = tf.cast(tf.round(tf.clip_by_value(raw_side, 1.0, limit)), tf.int32)
    centre = (eyes + mouth) / 2.0  # (x, y), about the nose.
    x0 = tf.cast(tf.round(centre[0] - tf.cast(side, tf.float32) / 2.0), tf.int32)
    y0 = tf.cast(tf.round(centre[1] - tf.cast(side, tf.float32) / 2.0), tf.int32)
    x0 = tf.clip_by_value(x0, 0, width - side)
    y0 = tf.clip_by_value(y0, 0, height - side)
    return y0, x0, side, fraction


def tfds_images(name, split="train", data_dir=None, manual_dir=None, size=64,
                download=False, min_face_fraction=0.3, face_scale=FACE_SCALE, min_side=64,
                shuffle_files=False):
    """Loads a TFDS image dataset as float32 (size, size, 3) images in [0, 1].

    Per dataset (matched on the name before any "/" or ":"):
      - celeb_a: a square around the face from the landmarks (side = face_scale *
        max(inter-ocular, eye-to-mouth distance), centred between eyes and mouth, clamped
        to the image); images whose unclamped side is below min_face_fraction of the
        shorter image side are dropped; then resized to size.
      - imagenet2012: images with height and width >= min_side are kept; the central
        min_side x min_side pixels are cut out (the paper's 64x64 centre crop), then
        resized to size if size != min_side.
      - anything else: centre square crop of the "image" feature, resized to size; grey
        becomes RGB, alpha is dropped.
    Nothing is downloaded unless download=True.

    Args:
        name: TFDS name, e.g. "celeb_a", "imagenet2012", "quickdraw_bitmap".
        split: TFDS split string.
        data_dir: TFDS data directory (None: TFDS default).
        manual_dir: directory holding manually downloaded archives (imagenet2012).
        size: output side in pixels.
        download: whether tfds may download and prepare the dataset.
        min_face_fraction: celeb_a face-size threshold (see above).
        face_scale: celeb_a box side relative to the face scale.
        min_side: imagenet2012 minimum side and crop size.
        shuffle_files: passed to tfds.load.

    Returns:
        tf.data.Dataset of float32 (size, size, 3).
    """
    import tensorflow_datasets as tfds  # Slow import; only needed here.

    size = int(size)
    ds = tfds.load(
        name, split=split, data_dir=data_dir, download=download, shuffle_files=shuffle_files,
        download_and_prepare_kwargs={
            "download_config": tfds.download.DownloadConfig(manual_dir=manual_dir)})
    base = name.split(":")[0].split("/")[0]

    if base == "celeb_a":
        def face(ex):
            img = ex["image"]
            shape = tf.shape(img)
            y0, x0, side, frac = celeba_face_box(ex["landmarks"], shape[0], shape[1],
                                                 face_scale)
            return img, y0, x0, side, frac

        def crop(img, y0, x0, side, frac):
            img = tf.image.crop_to_bounding_box(img, y0, x0, side, side)
            return _tf_square_resize(img, size)

        ds = ds.map(face, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.filter(lambda img, y0, x0, side, frac: frac >= min_face_fraction)
        ds = ds.map(crop, num_parallel_calls=tf.data.AUTOTUNE)
    elif base == "imagenet2012":
        m = int(min_side)

        def big_enough(ex):
            shape = tf.shape(ex["image"])
            return tf.logical_and(shape[0] >= m, shape[1] >= m)

        def centre(ex):
            img = _tf_rgb(ex["image"])
            shape = tf.shape(img)
            img = tf.image.crop_to_bounding_box(img, (shape[0] - m) // 2,
                                                (shape[1] - m) // 2, m, m)
            if m == size:
                img = tf.image.convert_image_dtype(img, tf.float32)
                return tf.ensure_shape(img, (size, size, 3))
            return _tf_square_resize(img, size)

        ds = ds.filter(big_enough).map(centre, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        def generic(ex):
            img = _tf_rgb(ex["image"])
            return _tf_square_resize(_tf_centre_square(img), size)

        ds = ds.map(generic, num_parallel_calls=tf.data.AUTOTUNE)
    return ds


def mix_datasets(datasets, weights, seed, stop_on_empty_dataset=False):
    """Samples elements from several datasets with the given (normalised) weights.

    Args:
        datasets: sequence of tf.data.Dataset with the same element spec.
        weights: one non-negative finite weight per dataset, not all zero.
        seed: sampling seed.
        stop_on_empty_dataset: stop when any dataset runs out (default: keep going with
            the others).

    Returns:
        tf.data.Dataset from tf.data.Dataset.sample_from_datasets.

    Raises:
        DataError: no datasets, a length mismatch, or bad weights.
    """
    datasets = list(datasets)
    w = np.asarray(list(weights), dtype=np.float64)
    if not datasets:
        raise DataError("mix_datasets: no datasets given")
    if w.ndim != 1 or len(w) != len(datasets):
        raise DataError(f"mix_datasets: {len(datasets)} datasets but weights {w.tolist()}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise DataError(f"mix_datasets: weights must be finite, >= 0 and not all zero, "
                        f"got {w.tolist()}")
    w = (w / w.sum()).astype(np.float32)
    return tf.data.Dataset.sample_from_datasets(
        datasets, weights=w.tolist(), seed=seed, stop_on_empty_dataset=stop_on_empty_dataset)
