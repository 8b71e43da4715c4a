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
