"""A PyTorch Sketch RNN port timed at our sizes: its training step and batch-1 sampling, as JSON lines.

The port is read from a checkout you fetch yourself (nothing of it is in this repository):
alexis-jacq/Pytorch-Sketch-RNN's `sketch_rnn.py` (fused `nn.LSTM`, Adam, the paper's losses),
the fastest PyTorch port we know. Its file was written for PyTorch 0.3 and reads its own
`cat.npz` at import, so before running it this harness replaces a few lines, each named in
`PATCHES` with the reason; a port whose text no longer matches fails in one line.

Sizes are `default()`'s: encoder 256 (bidirectional), decoder 512, z 128, 20 mixtures,
batch 100, every sketch a full 250 points (random offsets, as `benchmarks.train_sketch_rnn`
times ours). Run it with a Python that has PyTorch (not the project's .venv):

  python3 -m venv ../peers && ../peers/bin/pip install torch==2.13.0 numpy matplotlib
  ../peers/bin/python benchmarks/peer_pytorch.py --source=PATH/Pytorch-Sketch-RNN/sketch_rnn.py

Prints PyTorch's own fp32 matmul rates on the shapes `benchmarks.roofline` times (a 2048²
matmul and the recurrent (100, 512) @ (512, 2048) loop), `peer_train_sketches_per_s` (the
port's own `Model.train`, its batch maker included) and `peer_sample_batch1_ms_per_sketch`
(its `conditional_generation` with z ~ N(0, I) and the end-of-sketch logit pushed down, so
every sample runs 250 steps, its picture not drawn).

Denormals: TensorFlow flushes denormal floats to zero on its threads; PyTorch does not by
default, and on some CPUs (the AMX Xeon of docs/benchmarks.md) the port's step then meets
denormals and runs 1.7-9 s instead of 1.8 s. The port is timed as TensorFlow runs ours
(`torch.set_flush_denormal(True)`); `--flush_denormal=0` times PyTorch's default.
"""

import argparse
import contextlib
import io
import pathlib
import re
import sys

if __package__ in (None, ""):  # Run as a file: `benchmarks` must be the project package.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

from benchmarks import timing  # noqa: E402  (no TensorFlow: runs beside PyTorch)

# (what the port says, what it must say on PyTorch 2, why). Each must match exactly once.
PATCHES = (
    ("cell = torch.zeros(2, batch_size, hp.enc_hidden_size.cuda()",
     "cell = torch.zeros(2, batch_size, hp.enc_hidden_size).cuda()",
     "an unclosed parenthesis on the CUDA branch: the file does not parse"),
    ("print('epoch',epoch,'loss',loss.data[0],'LR',LR.data[0],'LKL',LKL.data[0])",
     "print('epoch',epoch,'loss',loss.item(),'LR',LR.item(),'LKL',LKL.item())",
     "indexing a 0-dim tensor is an error since PyTorch 0.5"),
)
# The data block read at import: replaced by the harness's sketches.
_DATA_BLOCK = re.compile(r"dataset = np\.load\(hp\.data_location.*?\nNmax = max_size\(data\)\n",
                         re.S)


class PortError(Exception):
    """The port's file is missing or no longer matches the harness's patches."""


def patched_source(text, source="sketch_rnn.py"):
    """The port's text with PATCHES applied and its data block reading `__peer_data__`.

    Raises:
      PortError: a patch or the data block does not match exactly once.
    """
    for old, new, why in PATCHES:
        n = text.count(old)
        if n != 1:
            raise PortError(f"{source}: expected one {old!r} ({why}), found {n}")
        text = text.replace(old, new)
    text, n = _DATA_BLOCK.subn("data = __peer_data__\nNmax = max_size(data)\n", text)
    if n != 1:
        raise PortError(f"{source}: expected one data block 'dataset = np.load(...) ... "
                        f"Nmax = max_size(data)', found {n}")
    return text


def sketches(n, length, seed=0):
    """`n` sketches of `length` points in stroke-3 (dx, dy, pen lifted), a lift every 10 points."""
    import numpy as np
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = np.zeros((length, 3), np.float32)
        s[:, :2] = rng.normal(size=(length, 2))
        s[9::10, 2] = 1.0
        out.append(s)
    return out


def load_port(path, hparams, data):
    """The port's module namespace, executed from `path` with `hparams` set before its data."""
    import torch
    path = pathlib.Path(path)
    if not path.is_file():
        raise PortError(f"--source={path}: no such file (fetch alexis-jacq/Pytorch-Sketch-RNN)")
    text = patched_source(path.read_text(encoding="utf-8"), path)
    # Its hyperparameters are set in HParams.__init__; ours are applied right after `hp = HParams()`.
    marker = "hp = HParams()\n"
    if text.count(marker) != 1:
        raise PortError(f"{path}: expected one {marker.strip()!r}")
    sets = "".join(f"hp.{k} = {v!r}\n" for k, v in hparams.items())
    text = text.replace(marker, marker + sets)
    namespace = {"__name__": "peer_port", "__file__": str(path), "__peer_data__": data,
                 "Variable": torch.autograd.Variable}  # used but never imported by the port
    exec(compile(text, str(path), "exec"), namespace)  # noqa: S102  (a fetched peer, timed)
    return namespace


def torch_matmul_rates(size=2048, batch=100, units=512, steps=250, reps=7):
    """PyTorch's best GFLOP/s: a (size x size) matmul, and the recurrent (B, H) @ (H, 4H) loop.

    The same two shapes `benchmarks.roofline` times in TensorFlow, so the two libraries' dot
    paths can be compared on one machine.
    """
    import torch
    torch.manual_seed(0)
    a, b = torch.randn(size, size), torch.randn(size, size)
    h0 = torch.randn(batch, units)
    w = torch.randn(units, 4 * units) * timing.recurrent_weight_scale(units)

    def big():
        torch.mm(a, b)

    def loop():
        h = h0
        for _ in range(steps):
            h = torch.mm(h, w)[:, :units]  # (B, 4H) -> (B, H)

    out = {}
    with torch.no_grad():
        for name, fn, flop in (("matmul", big, 2.0 * size ** 3),
                               ("recurrent", loop, 2.0 * batch * units * 4 * units * steps)):
            out[name] = flop / min(timing.time_reps(fn, reps=reps, warmup=1)) / 1e9
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True, help="the port's sketch_rnn.py")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--max_seq_len", type=int, default=250)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--sample_reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--flush_denormal", type=int, choices=(0, 1), default=1,
                        help="1: flush denormals to zero, as TensorFlow does on its threads; "
                             "0: PyTorch's default")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        sys.exit("benchmarks/peer_pytorch.py: PyTorch is not installed in this Python")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(bool(args.flush_denormal))
    torch.manual_seed(0)
    hparams = {"enc_hidden_size": 256, "dec_hidden_size": 512, "Nz": 128, "M": 20,
               "batch_size": args.batch, "max_seq_length": args.max_seq_len, "temperature": 0.5}
    try:
        port = load_port(args.source, hparams,
                         sketches(max(args.batch, 10), args.max_seq_len))
    except PortError as e:
        sys.exit(f"benchmarks/peer_pytorch.py: {e}")
    extra = {"peer": "alexis-jacq/Pytorch-Sketch-RNN", "torch": torch.__version__,
             "threads": torch.get_num_threads(), "flush_denormal": bool(args.flush_denormal),
             "batch": args.batch,
             "max_seq_len": args.max_seq_len, **timing.machine()}

    rates = torch_matmul_rates()
    timing.emit("peer_torch_matmul_float32_2048", "GFLOP/s", [rates["matmul"]], **extra)
    timing.emit("peer_torch_recurrent_matmul_float32_b100_h512", "GFLOP/s", [rates["recurrent"]],
                **extra)

    model = port["Model"]()
    epoch = [0]

    def train_step():
        epoch[0] += 1
        if epoch[0] % 100 == 0:  # its epoch 100s draw a sample picture: not part of a step
            epoch[0] += 1
        with contextlib.redirect_stdout(io.StringIO()):
            model.train(epoch[0])

    times = timing.time_reps(train_step, reps=args.reps, warmup=args.warmup)
    timing.emit("peer_train_s_per_step", "s/step", times, **extra)
    timing.emit("peer_train_sketches_per_s", "sketches/s", timing.rates(times, args.batch), **extra)

    # Batch-1 sampling: z from the prior, every sample the full max_seq_len steps.
    nz = hparams["Nz"]

    class Prior(torch.nn.Module):
        def forward(self, inputs, batch_size):  # the port's encoder signature
            return torch.randn(batch_size, nz), None, None

    with torch.no_grad():
        model.decoder.fc_params.bias[6 * hparams["M"] + 2] = -30.0  # p3, end of sketch
    model.encoder = Prior()
    port["make_image"] = lambda *a, **k: None

    def sample():
        with torch.no_grad():
            model.conditional_generation(0)

    times = timing.time_reps(sample, reps=args.sample_reps, warmup=1)
    timing.emit("peer_sample_batch1_ms_per_sketch", "ms/sketch", [t * 1000.0 for t in times],
                **{**extra, "batch": 1})


if __name__ == "__main__":
    main()
