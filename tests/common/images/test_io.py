"""Tests for image loading, folder loading, ImagePipeline and TFDS sources (mocked, offline)."""

import io
import os
import struct
import zlib

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from common.images import pipeline as image_pipeline
from common.images import tfds as image_tfds
from common.images import io as images_io
from common.errors import DataError, UnsafeFileError


def _save(img, path, **kw):
    img.save(path, **kw)
    return str(path)


# ----------------------------------------------------------------------------- load_image


def test_load_rgb_crop_and_resize(tmp_path):
    arr = np.zeros((40, 80, 3), dtype=np.uint8)
    arr[:, :20] = (255, 0, 0)  # Left band (cropped away), centre green, right band blue.
    arr[:, 20:60] = (0, 255, 0)
    arr[:, 60:] = (0, 0, 255)
    path = _save(Image.fromarray(arr), tmp_path / "a.png")
    full = images_io.load_image(path, size=None)
    assert full.shape == (40, 40, 3) and full.dtype == np.float32
    np.testing.assert_allclose(full, np.broadcast_to([0, 1, 0], (40, 40, 3)))
    small = images_io.load_image(path, size=8)
    assert small.shape == (8, 8, 3) and small.dtype == np.float32
    np.testing.assert_allclose(small, np.broadcast_to([0, 1, 0], (8, 8, 3)), atol=1e-3)


def test_load_real_images(images_dir):
    files = sorted(p for p in images_dir.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    assert len(files) >= 60
    for f in files:
        img = images_io.load_image(f, size=32)
        assert img.shape == (32, 32, 3) and img.dtype == np.float32, f
        assert 0.0 <= img.min() and img.max() <= 1.0, f
        assert img.std() > 0.01, f


def test_real_folder(images_dir):
    folder = images_io.load_image_folder([str(images_dir)], size=16)
    assert folder.images.shape == (len(folder.paths), 16, 16, 3)
    assert len(folder.paths) >= 60 and folder.skipped == []
    assert folder.paths == sorted(folder.paths)
    flat = images_io.load_image_folder(images_dir / "content" / "faces", size=16, recursive=False)
    assert 0 < len(flat.paths) < len(folder.paths)
    assert all(os.path.dirname(p) == str(images_dir / "content" / "faces") for p in flat.paths)


def test_grey_png(tmp_path):
    path = _save(Image.new("L", (10, 10), 128), tmp_path / "g.png")
    img = images_io.load_image(path, size=None)
    assert img.shape == (10, 10, 3)
    np.testing.assert_allclose(img, 128 / 255, atol=1e-6)


def test_rgba_png_composited_on_white(tmp_path):
    arr = np.zeros((10, 10, 4), dtype=np.uint8)
    arr[..., 0] = 255
    arr[:5, :, 3] = 0  # Top half fully transparent -> white.
    arr[5:, :, 3] = 255  # Bottom half opaque red.
    path = _save(Image.fromarray(arr, mode="RGBA"), tmp_path / "a.png")
    img = images_io.load_image(path, size=None)
    np.testing.assert_allclose(img[:5], 1.0)
    np.testing.assert_allclose(img[5:], np.broadcast_to([1, 0, 0], (5, 10, 3)))


def test_la_and_palette_with_transparency(tmp_path):
    la = Image.merge("LA", [Image.new("L", (6, 6), 0), Image.new("L", (6, 6), 0)])
    np.testing.assert_allclose(images_io.load_image(_save(la, tmp_path / "la.png"), None), 1.0)
    pal = Image.new("P", (6, 6), 1)
    pal.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    np.testing.assert_allclose(images_io.load_image(_save(pal, tmp_path / "p.png"), None),
                               np.broadcast_to([1, 0, 0], (6, 6, 3)))
    pal.info["transparency"] = 1
    np.testing.assert_allclose(
        images_io.load_image(_save(pal, tmp_path / "pt.png", transparency=1), None), 1.0)


def test_16bit_png(tmp_path):
    arr = np.full((8, 8), 65535, dtype=np.uint16)
    arr[:4] = 32768
    path = _save(Image.fromarray(arr), tmp_path / "16.png")
    assert Image.open(path).mode in ("I;16", "I")
    img = images_io.load_image(path, size=None)
    assert img.shape == (8, 8, 3)
    np.testing.assert_allclose(img[4:], 1.0)
    np.testing.assert_allclose(img[:4], 32768 / 65535, atol=1e-6)


def test_cmyk_jpeg(tmp_path):
    path = _save(Image.new("CMYK", (12, 12), (0, 0, 0, 0)), tmp_path / "c.jpg")
    img = images_io.load_image(path, size=None)
    assert img.shape == (12, 12, 3) and img.min() > 0.9  # No ink -> white.


def test_large_jpeg_uses_draft_and_still_exact_size(tmp_path):
    rng = np.random.default_rng(0)
    arr = (rng.random((600, 900, 3)) * 255).astype(np.uint8)
    path = _save(Image.fromarray(arr), tmp_path / "big.jpg", quality=90)
    img = images_io.load_image(path, size=20)
    assert img.shape == (20, 20, 3)
    np.testing.assert_allclose(img.mean(), arr.mean() / 255, atol=0.03)


@pytest.mark.parametrize("maker, match", [
    (lambda p: p.write_bytes(b""), "empty"),
    (lambda p: p.write_text("this is not an image"), "not a recognised image"),
])
def test_bad_files(tmp_path, maker, match):
    path = tmp_path / "bad.jpg"
    maker(path)
    with pytest.raises(DataError, match=match) as e:
        images_io.load_image(path)
    assert str(path) in str(e.value)


def test_truncated_jpeg(tmp_path):
    buf = io.BytesIO()
    Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)
                    ).save(buf, format="JPEG")
    path = tmp_path / "trunc.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(DataError, match="trunc.jpg"):
        images_io.load_image(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="nope.png"):
        images_io.load_image(tmp_path / "nope.png")


def _png_with_declared_size(width, height):
    """A tiny valid PNG whose IHDR claims width x height (the pixel data is never read)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


def test_decompression_bomb_refused(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_declared_size(10000, 10000))  # 1e8 pixels > 64e6 cap.
    with pytest.raises(UnsafeFileError, match="bomb.png"):
        images_io.load_image(path)
    path.write_bytes(_png_with_declared_size(9000, 8000))  # 7.2e7: above our cap only.
    with pytest.raises(UnsafeFileError, match="exceeds the cap"):
        images_io.load_image(path)


def test_absurd_declared_or_asked_sizes_are_one_line_errors(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_with_declared_size(100_000, 100_000))  # Header only: 1e10 pixels.
    with pytest.raises(UnsafeFileError) as err:
        images_io.load_image(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)
    small = _save(Image.new("RGB", (20, 20)), tmp_path / "small.png")
    with pytest.raises(DataError, match=r"small.png: output size 1000000 is out of range "
                                        r"\(at most 8,192\)"):
        images_io.load_image(small, size=10**6)  # Would resize to 1e12 pixels.


def test_pixel_cap_parameter(tmp_path):
    path = _save(Image.new("RGB", (20, 20)), tmp_path / "small.png")
    with pytest.raises(UnsafeFileError):
        images_io.load_image(path, max_pixels=100)
    assert images_io.load_image(path, size=4, max_pixels=400).shape == (4, 4, 3)


def test_folder_skips_bad_files(tmp_path):
    good = tmp_path / "data"
    (good / "sub").mkdir(parents=True)
    _save(Image.new("RGB", (8, 8), (255, 0, 0)), good / "b.png")
    _save(Image.new("L", (8, 6), 10), good / "sub" / "a.JPG")
    (good / "empty.jpg").write_bytes(b"")
    (good / "text.png").write_text("hello")
    (good / "notes.txt").write_text("ignored: wrong extension")
    (good / ".hidden.png").write_text("ignored: hidden")
    folder = images_io.load_image_folder([str(good)], size=4)
    assert [os.path.basename(p) for p in folder.paths] == ["b.png", "a.JPG"]
    assert folder.images.shape == (2, 4, 4, 3) and folder.images.dtype == np.float32
    assert sorted(os.path.basename(p) for p, _ in folder.skipped) == ["empty.jpg", "text.png"]
    assert all(reason for _, reason in folder.skipped)
    flat = images_io.load_image_folder(good, size=4, recursive=False)
    assert [os.path.basename(p) for p in flat.paths] == ["b.png"]
    only_bad = images_io.load_image_folder([good / "empty.jpg"], size=4)
    assert only_bad.images.shape == (0, 4, 4, 3) and len(only_bad.skipped) == 1


def test_missing_folder(tmp_path):
    with pytest.raises(DataError, match="missing_dir"):
        images_io.load_image_folder([str(tmp_path / "missing_dir")])


# ----------------------------------------------------------------------------- ImagePipeline


def _toy_images(n):
    return np.arange(n, dtype=np.float32)[:, None, None, None] * np.ones((1, 2, 2, 1),
                                                                           np.float32)


def test_pipeline_epochs_are_permutations():
    pipe = image_pipeline.ImagePipeline(_toy_images(10), batch_size=5, seed=3)
    assert pipe.steps_per_epoch == 2
    first = np.concatenate([pipe.indices(0), pipe.indices(1)])
    second = np.concatenate([pipe.indices(2), pipe.indices(3)])
    assert sorted(first) == list(range(10)) and sorted(second) == list(range(10))
    assert list(first) != list(second)
    np.testing.assert_array_equal(pipe.batch(1)[:, 0, 0, 0], pipe.indices(1))


def test_pipeline_is_pure_function_of_seed_and_step():
    a = image_pipeline.ImagePipeline(_toy_images(7), batch_size=3, seed=1)
    b = image_pipeline.ImagePipeline(_toy_images(7), batch_size=3, seed=1)
    c = image_pipeline.ImagePipeline(_toy_images(7), batch_size=3, seed=2)
    np.testing.assert_array_equal(a.batch(5), b.batch(5))  # Out of order, fresh object.
    np.testing.assert_array_equal(a.batch(5), a.batch(5))
    assert any(np.any(a.indices(s) != c.indices(s)) for s in range(5))
    # Batches spanning an epoch boundary follow the stream of permutations.
    stream = np.concatenate([np.random.default_rng([1, e]).permutation(7) for e in range(3)])
    np.testing.assert_array_equal(a.indices(2), stream[6:9])
    big = image_pipeline.ImagePipeline(_toy_images(3), batch_size=8, seed=0)  # batch > N.
    assert big.batch(0).shape == (8, 2, 2, 1)


def test_pipeline_dataset_resumes_exactly():
    pipe = image_pipeline.ImagePipeline(_toy_images(9), batch_size=4, seed=7)
    ds = pipe.dataset()
    assert ds.element_spec.shape == (4, 2, 2, 1)
    full = [b.numpy() for b in ds.take(6)]
    resumed = [b.numpy() for b in pipe.dataset(start_step=3).take(3)]
    for want, got in zip(full[3:], resumed):
        np.testing.assert_array_equal(want, got)
    for s, b in enumerate(full):
        np.testing.assert_array_equal(b, pipe.batch(s))


@pytest.mark.parametrize("kwargs", [
    dict(images=np.zeros((0, 2, 2, 3)), batch_size=1, seed=0),
    dict(images=np.zeros((2, 2, 3)), batch_size=1, seed=0),
    dict(images=np.zeros((2, 2, 2, 3)), batch_size=0, seed=0),
    dict(images=np.zeros((2, 2, 2, 3)), batch_size=1, seed=-1),
])
def test_pipeline_bad_args(kwargs):
    with pytest.raises(DataError):
        image_pipeline.ImagePipeline(**kwargs)


# ----------------------------------------------------------------------------- TFDS (mocked)


def test_celeb_a_mock(tfds_offline, tmp_path):
    with tfds_offline.testing.mock_data(num_examples=6):
        ds = image_tfds.tfds_images("celeb_a", data_dir=str(tmp_path), size=16,
                                min_face_fraction=0.0)
        assert ds.element_spec == tf.TensorSpec((16, 16, 3), tf.float32)
        out = [x.numpy() for x in ds]
    assert len(out) == 6
    for x in out:
        assert x.shape == (16, 16, 3) and x.dtype == np.float32
        assert 0.0 <= x.min() and x.max() <= 1.0


def _face_example(landmarks, height=218, width=178):
    """A CelebA-like example: grey image with a white square over the face box region."""
    img = np.full((height, width, 3), 60, dtype=np.uint8)
    return {"image": img, "landmarks": {k: np.int64(v) for k, v in landmarks.items()}}


ALIGNED = dict(lefteye_x=69, lefteye_y=111, righteye_x=109, righteye_y=111, nose_x=89,
               nose_y=135, leftmouth_x=72, leftmouth_y=151, rightmouth_x=106,
               rightmouth_y=151)


def test_celeba_face_box_numbers():
    lm = {k: tf.constant(v, tf.int64) for k, v in ALIGNED.items()}
    y0, x0, side, frac = image_tfds.celeba_face_box(lm, tf.constant(218), tf.constant(178),
                                                face_scale=2.5)
    # Eye-to-mouth distance 40 = inter-ocular 40 -> side 100, centred at (89, 131).
    assert int(side) == 100
    assert (int(x0), int(y0)) == (39, 81)
    np.testing.assert_allclose(float(frac), 100 / 178, rtol=1e-6)


@pytest.mark.parametrize("lm", [
    {k: (300 if k.endswith("x") else -50) for k in ALIGNED},  # All outside, coincident.
    dict(ALIGNED, lefteye_x=-400, righteye_x=900),  # Box larger than the image.
    dict(ALIGNED, lefteye_x=170, righteye_x=178, leftmouth_x=175, rightmouth_x=177,
         lefteye_y=210, righteye_y=210, leftmouth_y=217, rightmouth_y=217),  # Corner.
])
def test_celeba_face_box_clamped(lm):
    lm = {k: tf.constant(v, tf.int64) for k, v in lm.items()}
    y0, x0, side, _ = image_tfds.celeba_face_box(lm, tf.constant(218), tf.constant(178))
    y0, x0, side = int(y0), int(x0), int(side)
    assert 1 <= side <= 178
    assert 0 <= x0 and x0 + side <= 178 and 0 <= y0 and y0 + side <= 218


def test_celeb_a_crop_and_small_face_filter(tfds_offline, tmp_path):
    big = _face_example(ALIGNED)
    big["image"][81:181, 39:139] = 255  # Exactly the face box at face_scale 2.5.
    small_lm = dict(ALIGNED, lefteye_x=85, righteye_x=93, leftmouth_x=86, rightmouth_x=92,
                    leftmouth_y=119, rightmouth_y=119)  # A face 8 px across.
    examples = [big, _face_example(small_lm)]

    def as_dataset(*args, **kwargs):
        return tf.data.Dataset.from_generator(
            lambda: iter(examples),
            output_signature={
                "image": tf.TensorSpec((218, 178, 3), tf.uint8),
                "landmarks": {k: tf.TensorSpec((), tf.int64) for k in ALIGNED}})

    with tfds_offline.testing.mock_data(as_dataset_fn=as_dataset):
        ds = image_tfds.tfds_images("celeb_a", data_dir=str(tmp_path), size=10, face_scale=2.5,
                                min_face_fraction=0.3)
        out = [x.numpy() for x in ds]
    assert len(out) == 1  # The small face is dropped.
    np.testing.assert_allclose(out[0], 1.0, atol=0.02)  # Crop is the white face box.


def test_imagenet_mock(tfds_offline, tmp_path):
    # Mock imagenet images are 5..49 px per side: all fail the paper's 64 px minimum.
    with tfds_offline.testing.mock_data(num_examples=8):
        assert len(list(image_tfds.tfds_images("imagenet2012", data_dir=str(tmp_path),
                                            manual_dir=str(tmp_path)))) == 0
        ds = image_tfds.tfds_images("imagenet2012", data_dir=str(tmp_path), size=12, min_side=8)
        assert ds.element_spec == tf.TensorSpec((12, 12, 3), tf.float32)
        out = [x.numpy() for x in ds]
        same = image_tfds.tfds_images("imagenet2012", data_dir=str(tmp_path), size=8, min_side=8)
        assert same.element_spec.shape == (8, 8, 3)
    assert 1 <= len(out) <= 8
    assert all(x.shape == (12, 12, 3) and 0 <= x.min() and x.max() <= 1 for x in out)


def test_generic_grey_dataset(tfds_offline, tmp_path):
    with tfds_offline.testing.mock_data(num_examples=3):
        ds = image_tfds.tfds_images("quickdraw_bitmap", data_dir=str(tmp_path), size=8)
        out = [x.numpy() for x in ds]
    assert len(out) == 3 and out[0].shape == (8, 8, 3)
    np.testing.assert_allclose(out[0][..., 0], out[0][..., 2])


def test_mix_datasets():
    a = tf.data.Dataset.from_tensors(0).repeat()
    b = tf.data.Dataset.from_tensors(1).repeat()
    draws = np.array([x.numpy() for x in image_tfds.mix_datasets([a, b], [3, 1], 0).take(2000)])
    assert 0.2 < draws.mean() < 0.3
    again = np.array([x.numpy() for x in image_tfds.mix_datasets([a, b], [3, 1], 0).take(2000)])
    np.testing.assert_array_equal(draws, again)
    only_b = [x.numpy() for x in image_tfds.mix_datasets([a, b], [0, 2], 1).take(20)]
    assert set(only_b) == {1}


@pytest.mark.parametrize("weights", [[1.0], [1, -1], [0, 0], [1, float("nan")]])
def test_mix_datasets_bad_weights(weights):
    ds = tf.data.Dataset.from_tensors(0)
    with pytest.raises(DataError):
        image_tfds.mix_datasets([ds, ds], weights, 0)


def test_mix_datasets_empty():
    with pytest.raises(DataError):
        image_tfds.mix_datasets([], [], 0)


def test_center_crop_takes_the_central_pixels_unscaled(tmp_path):
    arr = np.zeros((100, 120, 3), np.uint8)
    arr[..., 0] = np.arange(120)[None, :]  # Red grows to the right.
    arr[..., 1] = np.arange(100)[:, None]  # Green grows downwards.
    path = tmp_path / "ramp.png"
    Image.fromarray(arr).save(path)
    centre = images_io.load_image(path, size=64, crop="center")
    np.testing.assert_allclose(centre[..., 0] * 255, np.tile(np.arange(28, 92), (64, 1)),
                               atol=1e-3)
    np.testing.assert_allclose(centre[..., 1] * 255, np.tile(np.arange(18, 82)[:, None], (1, 64)),
                               atol=1e-3)
    resized = images_io.load_image(path, size=64)  # The whole 100 x 100 square, resized.
    assert resized[..., 0].max() * 255 > 100
    small = images_io.load_image(path, size=128, crop="center")  # Smaller: resized as before.
    np.testing.assert_allclose(small, images_io.load_image(path, size=128), atol=1e-6)
    folder = images_io.load_image_folder([tmp_path], size=64, crop="center")
    np.testing.assert_array_equal(folder.images[0], centre)
    with pytest.raises(DataError, match="crop"):
        images_io.load_image(path, size=64, crop="middle")
