"""Image grids, PNG files, summary images, and the atomic writes under them."""

import os

import numpy as np
import pytest
from PIL import Image

from common import files
from common.errors import DataError
from common.images import grid as grid_lib


def test_image_grid_float_and_uint8():
    imgs = np.zeros((5, 4, 6, 3), dtype=np.float32)
    imgs[1] = 1.0
    grid = grid_lib.image_grid(imgs, ncols=3, pad=2)
    assert grid.shape == (2 * 6 + 2, 3 * 8 + 2, 3) and grid.dtype == np.uint8
    np.testing.assert_array_equal(grid[2:6, 2:8], 0)
    np.testing.assert_array_equal(grid[2:6, 10:16], 255)
    assert grid[0, 0, 0] == 255
    u8 = grid_lib.image_grid((imgs * 255).astype(np.uint8), ncols=3, pad=2)
    np.testing.assert_array_equal(u8, grid)
    grey = grid_lib.image_grid(np.full((2, 4, 4), 0.5), ncols=2, pad=0)
    assert grey.shape == (4, 8, 3) and grey[0, 0, 0] == 128
    with pytest.raises(DataError):
        grid_lib.image_grid(np.zeros((2, 4, 4, 2)), ncols=2)


def test_save_png_atomic(tmp_path):
    path = tmp_path / "a" / "b" / "img.png"
    img = np.zeros((5, 7, 3), dtype=np.uint8)
    img[1, 2] = (10, 20, 30)
    assert grid_lib.save_png(img, path) == str(path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), img)
    grid_lib.save_png(np.ones((3, 3), dtype=np.float32), path)  # Overwrite, float grey.
    assert np.asarray(Image.open(path)).min() == 255
    assert os.listdir(path.parent) == ["img.png"]  # No temp files left.
    with pytest.raises(DataError):
        grid_lib.save_png(np.zeros((2, 2, 2)), path)


def test_atomic_write_keeps_old_file_on_failure(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    files.atomic_write_text(path, "old")

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        files.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["t.txt"]


def test_save_text_utf8(tmp_path):
    path = tmp_path / "sub" / "s.svg"
    files.atomic_write_text(path, "héllo <svg/>")
    assert path.read_text(encoding="utf-8") == "héllo <svg/>"


def test_to_summary_image():
    a = grid_lib.to_summary_image(np.full((4, 5, 3), 255, dtype=np.uint8))
    assert a.shape == (1, 4, 5, 3) and a.dtype == np.float32 and a.max() == 1.0
    assert grid_lib.to_summary_image(np.zeros((4, 5))).shape == (1, 4, 5, 1)
    assert grid_lib.to_summary_image(np.zeros((2, 4, 5, 1))).shape == (2, 4, 5, 1)
    assert grid_lib.to_summary_image(np.full((2, 2), 3.0)).max() == 1.0
    with pytest.raises(DataError):
        grid_lib.to_summary_image(np.zeros(3))


def test_image_grid_refuses_an_absurd_canvas():
    with pytest.raises(DataError, match=r"^image_grid: 15000008 x 10000004 pixels = "
                                        r"150000140000032 is out of range"):
        grid_lib.image_grid(np.zeros((2, 4, 4, 3), np.uint8), ncols=2, pad=5_000_000)


def test_labelled_grid_enlarges_cells_and_draws_labels_in_margins():
    images = np.zeros((6, 8, 8, 3), np.float32)
    images[:, 2:6, 2:6] = 1.0
    plain = grid_lib.image_grid(np.repeat(np.repeat(images, 2, 1), 2, 2), ncols=3)
    out = grid_lib.labelled_grid(images, 3, row_labels=["content", "WAE"],
                             col_labels=["a\nb", "c", "d"], scale=2)
    assert out.dtype == np.uint8 and out.shape[2] == 3
    top, left = out.shape[0] - plain.shape[0], out.shape[1] - plain.shape[1]
    assert top > 0 and left > 0
    np.testing.assert_array_equal(out[top:, left:], plain)  # The cells, unchanged.
    assert (out[top:, :left] < 128).any() and (out[:top, left:] < 128).any()  # Ink: labels.
    bare = grid_lib.labelled_grid(images, 3, scale=2)
    np.testing.assert_array_equal(bare, plain)


def test_labelled_grid_refuses_wrong_label_counts_and_scales():
    images = np.zeros((4, 8, 8, 3), np.float32)
    with pytest.raises(DataError, match="3 row labels for 2 rows"):
        grid_lib.labelled_grid(images, 2, row_labels=["a", "b", "c"])
    with pytest.raises(DataError, match="1 column labels for 2 columns"):
        grid_lib.labelled_grid(images, 2, col_labels=["a"])
    with pytest.raises(DataError, match="scale=0"):
        grid_lib.labelled_grid(images, 2, scale=0)
