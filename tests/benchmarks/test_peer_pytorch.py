"""The PyTorch peer harness: its patches of the port's text, its sketches, its one-line errors."""

import importlib.util

import numpy as np
import pytest

from benchmarks import peer_pytorch

# The lines of the port that the harness touches, as the port writes them.
PORT = """import numpy as np
class HParams():
    def __init__(self):
        self.M = 20
hp = HParams()
dataset = np.load(hp.data_location, encoding='latin1')
data = dataset['train']
data = purify(data)
Nmax = max_size(data)
def f(batch_size):
    cell = torch.zeros(2, batch_size, hp.enc_hidden_size.cuda()
def g(epoch, loss, LR, LKL):
    print('epoch',epoch,'loss',loss.data[0],'LR',LR.data[0],'LKL',LKL.data[0])
"""


def test_patches_make_the_port_parse_and_read_the_harness_data():
    with pytest.raises(SyntaxError):
        compile(PORT, "port", "exec")
    text = peer_pytorch.patched_source(PORT)
    compile(text, "port", "exec")
    assert "np.load" not in text and "data = __peer_data__\nNmax = max_size(data)\n" in text
    assert "loss.item()" in text and ".data[0]" not in text
    assert "hp.enc_hidden_size).cuda()" in text


@pytest.mark.parametrize("drop", [p[0] for p in peer_pytorch.PATCHES] + ["Nmax = max_size(data)"])
def test_a_port_that_changed_fails_in_one_line_naming_the_file(drop):
    with pytest.raises(peer_pytorch.PortError, match=r"^other\.py: expected one") as e:
        peer_pytorch.patched_source(PORT.replace(drop, "# gone"), "other.py")
    assert "\n" not in str(e.value)


def test_sketches_are_full_length_stroke3_with_regular_lifts():
    s = peer_pytorch.sketches(3, 25, seed=1)
    assert len(s) == 3 and all(x.shape == (25, 3) and x.dtype == np.float32 for x in s)
    np.testing.assert_array_equal(np.flatnonzero(s[0][:, 2]), [9, 19])
    assert not np.array_equal(s[0], s[1])


def test_missing_source_or_torch_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        peer_pytorch.main(["--source", str(tmp_path / "none.py")])
    if importlib.util.find_spec("torch") is None:
        assert "PyTorch is not installed" in str(e.value)
    else:
        assert "none.py: no such file" in str(e.value)


def test_flush_denormal_flag_takes_0_or_1(tmp_path):
    with pytest.raises(SystemExit) as e:
        peer_pytorch.main(["--source", str(tmp_path / "none.py"), "--flush_denormal", "2"])
    assert e.value.code == 2  # argparse's usage error, before PyTorch or the port is read


def test_timed_recurrent_loops_stay_clear_of_denormals():
    # The loop both libraries time: h <- (h @ W)[:, :H] for 250 steps, W at the shared scale.
    from benchmarks import timing
    rng = np.random.default_rng(0)
    units = 512
    h = rng.normal(size=(100, units)).astype(np.float32)
    w = (rng.normal(size=(units, 4 * units)) * timing.recurrent_weight_scale(units)).astype(
        np.float32)
    for _ in range(250):
        h = (h @ w)[:, :units]
    rms = float(np.sqrt(np.mean(h.astype(np.float64) ** 2)))
    assert 1e-3 < rms < 1e3 and np.isfinite(h).all()
    assert np.mean(np.abs(h) < np.finfo(np.float32).tiny) < 1e-3  # (almost) no denormals
