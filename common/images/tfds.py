"""TFDS image sources (CelebA face crops, ImageNet centre crops, any image dataset) and mixing."""

import numpy as np
import tensorflow as tf

from common.errors import DataError


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
