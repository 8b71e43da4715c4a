"""The Sketch RNN SavedModel client: load with the kind check, call the signatures, pad and unpad."""

import threading

import numpy as np
import tensorflow as tf

from common import exports
from common import limits
from common.errors import DataError
from common.strokes.formats import pad_stroke3
from common.strokes.formats import validate_stroke3
from sketch_rnn import pixel_cells
from sketch_rnn.latents import METHODS
from sketch_rnn.latents import interpolate_latents
from sketch_rnn.sample import GREEDY_TEMPERATURE
from sketch_rnn.sample import parse_discrete_temperature as _parse_discrete
from sketch_rnn.sample import resolve_discrete_temperature


def parse_discrete_temperature(value):
    """"paper", "web" or a number > 0 (see sketch_rnn.sample); DataError names a bad value."""
    try:
        return _parse_discrete(value)
    except ValueError as e:
        raise DataError(str(e)) from None


def _unpad(out):
    strokes, lengths = out["strokes"].numpy(), out["lengths"].numpy()
    return [s[:int(n)] for s, n in zip(strokes, lengths)]


def _takes(function, name):
    """Whether a loaded SavedModel function has an input `name` (exports gain inputs over time)."""
    try:
        return name in function.function_type.parameters
    except AttributeError:
        return False


class SketchModel:
    """An exported Sketch RNN; calls are serialised by a lock (safe from many threads).

    All strokes in and out are stroke-3 in the training data's raw units (see metadata).

    Args:
        path: export folder or workdir (a SavedModel is code: load only what you trust).

    Reference: sketch_rnn/export.py for the signatures.
    """

    def __init__(self, path):
        self.path, self._m, self.meta = exports.load_export(path, "sketch_rnn")
        cfg = self.meta["config"]
        self.max_seq_len = int(cfg["max_seq_len"])
        self.z_size = int(cfg["z_size"])
        self.conditional = hasattr(self._m, "encode") and hasattr(self._m, "decode")
        self.takes_discrete_temperature = _takes(self._m.sample, "discrete_temperature")
        self.class_names = list(self.meta.get("data", {}).get("class_names", []))
        self.lock = threading.Lock()

    def info(self):
        return {"path": str(self.path), "conditional": self.conditional,
                "max_seq_len": self.max_seq_len, "z_size": self.z_size,
                "class_names": self.class_names,
                "discrete_temperature": self.takes_discrete_temperature}

    def _discrete_kwargs(self, discrete_temperature, temperature):
        """The signature's extra keyword arguments for a discrete-temperature setting.

        The paper's setting (= temperature) passes nothing, so exports written before the
        input existed sample as they always did; any other setting needs the input, and an
        older export refuses it rather than sample with the paper's.
        """
        setting = parse_discrete_temperature(discrete_temperature)
        if setting == "paper":
            return {}
        if not self.takes_discrete_temperature:
            raise DataError(f"{self.path}: this export has no discrete_temperature input (it was "
                            f"written before it existed), so it samples only with 'paper'; "
                            f"export it again for discrete_temperature={discrete_temperature!r}")
        value = float(resolve_discrete_temperature(setting, temperature))
        return {"discrete_temperature": tf.constant(value, tf.float32)}

    def _scalars(self, temperature, seed, max_len, n=1):
        """The signature's scalars; n sketches of max_len points are bounded before any call."""
        if not temperature > 0:
            raise DataError(f"temperature={temperature} must be > 0")
        max_len = self.max_seq_len if max_len is None else int(max_len)
        if max_len < 1:
            raise DataError(f"max_len={max_len} must be >= 1")
        limits.check(max_len, limits.MAX_SEQ_LEN, "max_len")
        limits.check(n, limits.MAX_SAMPLES, "number of sketches")
        limits.check(n * max_len, limits.MAX_CALL_POINTS, f"{n} sketches x max_len {max_len} =")
        return (tf.constant(temperature, tf.float32), tf.constant(seed, tf.int32),
                tf.constant(max_len, tf.int32))

    def _need_encoder(self, what):
        if not self.conditional:
            raise DataError(f"{self.path}: an unconditional (decoder-only) model cannot {what}")

    def sample(self, n, temperature, seed, max_len=None, discrete_temperature="paper"):
        """n unconditional samples -> list of (L_i, 3) float32 stroke-3.

        discrete_temperature divides the mixture and pen logits: "paper" (= temperature, the
        default), "web" (0.5 + 0.5 x temperature, @magenta/sketch's) or a number > 0; the
        same in complete, decode, reconstruct and interpolate.
        """
        d = self._discrete_kwargs(discrete_temperature, temperature)
        t, s, m = self._scalars(temperature, seed, max_len, n)
        with self.lock:
            out = self._m.sample(n=tf.constant(n, tf.int32), temperature=t, seed=s,
                                 max_len=m, **d)
        return _unpad(out)

    def complete(self, prefix, n, temperature, seed, max_len=None, discrete_temperature="paper"):
        """n continuations of one (P, 3) prefix; each starts at the prefix's last point."""
        prefix = validate_stroke3(prefix, "prefix")
        d = self._discrete_kwargs(discrete_temperature, temperature)
        t, s, m = self._scalars(temperature, seed, max_len, n)
        limits.check(len(prefix), limits.MAX_SEQ_LEN, "prefix points")
        limits.check(n * len(prefix), limits.MAX_CALL_POINTS,
                     f"{n} prefixes x {len(prefix)} points =")  # Before the (n, P, 3) copy.
        x = np.repeat(np.asarray(prefix, np.float32)[None], n, axis=0)  # (n, P, 3)
        lengths = np.full([n], len(prefix), np.int32)
        with self.lock:
            out = self._m.complete(strokes=x, lengths=lengths, temperature=t, seed=s, max_len=m,
                                   **d)
        return _unpad(out)

    def encode(self, sketches):
        """List of (P_i, 3) stroke-3 -> (B, N_z) float32 means."""
        self._need_encoder("encode")
        limits.check(len(sketches), limits.MAX_SAMPLES, "number of sketches")
        x, lengths = pad_stroke3([validate_stroke3(s, f"sketch {i}") for i, s in enumerate(sketches)])
        with self.lock:
            return self._m.encode(strokes=x, lengths=lengths)["mu"].numpy()

    def decode(self, z, temperature, seed, max_len=None, shared_noise=False,
               discrete_temperature="paper"):
        """(B, N_z) latents -> list of (L_i, 3) stroke-3.

        Args:
          z: (B, N_z) latents.
          temperature, seed, max_len: as in the export's `decode`.
          discrete_temperature: as in sample().
          shared_noise: decode each row on its own with the same seed, so that every row
            sees the same random draws at each step (common random numbers). Rows with
            nearby z then give nearby sketches at any temperature, which is what an
            interpolation wants. Costs one call per row, except at greedy temperatures,
            which draw no noise and stay one batched call. Otherwise one batched call, in
            which each row draws its own noise.
        """
        self._need_encoder("decode")
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_size:
            raise DataError(f"z has shape {z.shape}; expected (B, {self.z_size})")
        d = self._discrete_kwargs(discrete_temperature, temperature)
        t, s, m = self._scalars(temperature, seed, max_len, len(z))
        with self.lock:
            if shared_noise and temperature > GREEDY_TEMPERATURE:
                return [_unpad(self._m.decode(z=z[i:i + 1], temperature=t, seed=s, max_len=m,
                                              **d))[0] for i in range(len(z))]
            out = self._m.decode(z=z, temperature=t, seed=s, max_len=m, **d)
        return _unpad(out)

    @property
    def scores_whole_pixels(self):
        """Whether log_likelihood can take `pixel` (exports with the mixture signature)."""
        return hasattr(self._m, "mixture")

    @property
    def scale_factor(self):
        """The normaliser: the model sees stroke-3 offsets divided by it."""
        return float(self.meta.get("data", {}).get("scale_factor", 1.0))

    def mixture(self, sketch):
        """The decoder's predictions at temperature 1 along one sketch (teacher forced).

        Args:
          sketch: (P, 3) stroke-3 in the export's units.

        Returns:
          dict of float64 arrays of P + 1 rows, row t predicting point t (the last, the end):
          "pen" (3 probabilities), and the mixture's "pi", "mu_x", "mu_y", "sigma_x",
          "sigma_y" and "rho" (M each), offsets in model units (sketch units / scale_factor).
        """
        if not self.scores_whole_pixels:
            raise DataError(f"{self.path}: this export has no mixture signature (it was written "
                            "before it existed); train or import it again")
        sketch = validate_stroke3(sketch, "sketch")
        limits.check(len(sketch), limits.MAX_SEQ_LEN, "sketch points")
        x, lengths = pad_stroke3([sketch])
        with self.lock:
            out = self._m.mixture(strokes=x, lengths=lengths)
        return {k: v.numpy()[0].astype(np.float64) for k, v in out.items()}

    def log_likelihood(self, sketches, normaliser=None, batch_size=100, pixel=None):
        """Per-sketch NLLs in nats: dict of (B,) float64 nll_offsets, nll_pen and nll.

        Args:
          sketches: list of (P_i, 3) stroke-3 in the export's units (see metadata).
          normaliser: score as if the export's normaliser were this one (the model then
            sees offsets / normaliser), e.g. one normaliser for several models.
          batch_size: sketches per call.
          pixel: for data whose offsets are whole multiples of `pixel` (1 for pixel data):
            also nll_offsets_discrete, the mean over points of -log of the mixture's mass
            over each offset's pixel cell (pixel_cells.cell_log_prob; a probability, so the
            normaliser does not enter it), and nll_discrete = nll_offsets_discrete + nll_pen.
        """
        if not hasattr(self._m, "log_likelihood"):
            raise DataError(f"{self.path}: this export has no log_likelihood signature (it was "
                            "written before it existed); train or import it again")
        if normaliser is not None and not normaliser > 0:
            raise DataError(f"normaliser={normaliser} must be > 0")
        if pixel is not None and not pixel > 0:
            raise DataError(f"pixel={pixel} must be > 0")
        limits.check(batch_size, limits.MAX_BATCH, "batch_size")
        if pixel is not None and not self.scores_whole_pixels:
            raise DataError(f"{self.path}: this export has no mixture signature (it was written "
                            "before it existed); train or import it again")
        factor = 1.0 if normaliser is None else self.scale_factor / float(normaliser)
        units = self.scale_factor / factor  # Data units per model unit.
        checked = [validate_stroke3(s, f"sketch {i}") for i, s in enumerate(sketches)]
        out = {"nll_offsets": [], "nll_pen": [], "nll": []}
        if pixel is not None:
            out.update(nll_offsets_discrete=[], nll_discrete=[])
        for start in range(0, len(checked), batch_size):
            x, lengths = pad_stroke3(checked[start:start + batch_size])
            data = x.copy()
            x[..., :2] *= factor
            with self.lock:
                got = {k: v.numpy().astype(np.float64) for k, v in self._m.log_likelihood(
                    strokes=x, lengths=lengths).items()}
                mix = self._m.mixture(strokes=x, lengths=lengths) if pixel is not None else None
            if mix is not None:
                got["nll_offsets_discrete"] = self._discrete(mix, data, lengths, units, pixel)
                got["nll_discrete"] = got["nll_offsets_discrete"] + got["nll_pen"]
            for k in out:
                out[k].append(got[k])
        return {k: np.concatenate(v) if v else np.zeros([0]) for k, v in out.items()}

    @staticmethod
    def _discrete(mix, data, lengths, units, pixel):
        """Mean -log cell mass per real point, (B,): data (B, N, 3) in data units."""
        n = data.shape[1]
        p = {k: mix[k].numpy()[:, :n] for k in ("pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "rho")}
        with np.errstate(divide="ignore"):
            log_pi = np.log(p["pi"])  # (B, N, M); a weight of 0 contributes nothing
        log_cell = pixel_cells.cell_log_prob(
            data[..., 0] / units, data[..., 1] / units, 0.5 * pixel / units, log_pi,
            p["mu_x"], p["mu_y"], p["sigma_x"], p["sigma_y"], p["rho"]).numpy()  # (B, N)
        real = np.arange(n)[None, :] < lengths[:, None]
        return -np.where(real, log_cell, 0.0).sum(1) / np.maximum(lengths, 1)

    def reconstruct(self, sketches, temperature, seed, max_len=None, discrete_temperature="paper"):
        """encode then decode: one output per input sketch."""
        return self.decode(self.encode(sketches), temperature, seed, max_len,
                           discrete_temperature=discrete_temperature)

    def interpolate(self, a, b, steps, method="linear", temperature=0.1, seed=0, max_len=None,
                    shared_noise=True, discrete_temperature="paper"):
        """Decodes `steps` latents from encode(a) to encode(b) (SPEC eq. 15 or slerp).

        With shared_noise (the default) every frame sees the same random draws, so the frames
        change only as z does (see decode).
        """
        if method not in METHODS:
            raise DataError(f"method={method!r}: use one of {METHODS}")
        limits.check(steps, limits.MAX_SAMPLES, "steps")
        za, zb = self.encode([a, b])
        z = interpolate_latents(za, zb, steps, method)  # (S, Nz)
        return self.decode(z, temperature, seed, max_len, shared_noise=shared_noise,
                           discrete_temperature=discrete_temperature)
