"""Tests for commands.stylize: the grids scripts.stylize writes, on a stand-in client."""

import numpy as np
import pytest
from PIL import Image

from common.errors import DataError
from commands import stylize


class FakeModel:
    """A StyleModel stand-in: transfer blends content and style by strength."""

    image_size, content_dim = 8, 4

    def __init__(self, path, precision="auto"):
        self.path, self.precision = path, precision

    def transfer(self, c, s, strength=1.0):
        return (1 - strength) * c + strength * s

    def reconstruct(self, x):
        return x

    def transfer_grid(self, c, s, strength=1.0):
        return np.zeros((10, 10, 3), np.uint8)


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.setattr(stylize, "StyleModel", FakeModel)
    paths = []
    for name, value in (("c0", 0), ("c1", 60), ("s0", 250)):
        path = tmp_path / f"{name}.png"
        Image.fromarray(np.full((8, 8, 3), value, np.uint8)).save(path)
        paths.append(str(path))
    return paths


def test_strength_sweep_rows_per_pair_and_model(files, tmp_path):
    out = stylize.stylize(["a", "b"], files[:2], files[2:], tmp_path / "sweep.png", mode="strength",
                          labels=False)
    grid = np.asarray(Image.open(out))
    # 2 pairs x 2 models rows; content, style and the 5 strengths per row (8 px + 2 px pads).
    assert grid.shape[:2] == (2 * 2 * 10 + 2, (2 + len(stylize.SWEEP)) * 10 + 2)
    cells = [int(grid[5, 2 + 10 * k + 3, 0]) for k in range(7)]  # Row 1, one pixel per cell.
    assert cells[0] == 0 and cells[1] == 250  # content, style
    np.testing.assert_allclose(cells[2:], [250 * t for t in stylize.SWEEP], atol=1)


@pytest.mark.parametrize("mode", stylize.MODES)
def test_every_mode_draws_labels_around_cells_enlarged_twice(files, tmp_path, mode):
    bare = np.asarray(Image.open(stylize.stylize(["w/run1/export", "run2"], files[:2], files[2:],
                                                 tmp_path / "bare.png", mode=mode,
                                                 labels=False)))
    out = np.asarray(Image.open(stylize.stylize(["w/run1/export", "run2"], files[:2], files[2:],
                                                tmp_path / "lab.png", mode=mode)))
    # Cells of 8 px become 16 px; labels add a left and a top margin with dark ink.
    rows, cols = (bare.shape[0] - 2) // 10, (bare.shape[1] - 2) // 10
    top, left = out.shape[0] - (rows * 18 + 2), out.shape[1] - (cols * 18 + 2)
    assert top > 0 and left > 0
    assert (out[top:, :left] < 100).any() and (out[:top, left:] < 100).any()


def test_model_names_are_the_workdirs():
    model = FakeModel("workdirs/wae_mixed_cd128/export")
    assert stylize.model_name(model) == "wae_mixed_cd128\ncontent_dim 4"
    assert stylize.model_name(FakeModel("runs/celeba")).startswith("celeba\n")


def test_unknown_mode_and_bad_strength(files, tmp_path):
    with pytest.raises(DataError, match="--mode='sweep'"):
        stylize.stylize(["a"], files[:1], files[2:], tmp_path / "x.png", mode="sweep")
    with pytest.raises(DataError, match="--strength=2"):
        stylize.stylize(["a"], files[:1], files[2:], tmp_path / "x.png", strength=2)


def test_transfer_grid_puts_content_i_with_style_j_in_row_i_column_j(files, tmp_path):
    out = stylize.stylize(["a"], files[:2], files[2:] * 2, tmp_path / "t.png", strength=0.5,
                          labels=False)
    grid = np.asarray(Image.open(out)).astype(int)
    # Row 0: a blank corner, then the styles; rows 1-2: content i, then its two transfers.
    cell = lambda r, c: grid[2 + 10 * r + 3, 2 + 10 * c + 3, 0]  # noqa: E731
    assert [cell(0, k) for k in range(3)] == [255, 250, 250]
    assert cell(1, 0) == 0 and cell(2, 0) == 60
    for r, content in ((1, 0), (2, 60)):
        for k in (1, 2):
            assert abs(cell(r, k) - (content + 250) / 2) <= 1


def test_image_folders_without_images_and_no_images_are_named(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no image")
    with pytest.raises(DataError, match=r"^--style=.*empty: a folder without a readable image"):
        stylize.load_images([tmp_path / "empty"], 8, "style")
    with pytest.raises(DataError, match=r"^no content images given \(use --content=FILE\)$"):
        stylize.load_images([], 8, "content")
    Image.new("RGB", (12, 10), "red").save(tmp_path / "empty" / "a.png")
    images, names = stylize.load_images([tmp_path / "empty"], 8, "style", with_names=True)
    assert images.shape == (1, 8, 8, 3) and names == ["a"]
