"""Google's reference runtime, @magenta/sketch 0.2.0 under Node.js, on `.gen.json` models, and its numpy twin."""

import contextlib
import fcntl
import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile

import numpy as np

from sketch_rnn import js_format

NODE_DIR = pathlib.Path(__file__).resolve().parent / "node"
PDF_JS = NODE_DIR / "pdf.js"
MANIFESTS = ("package.json", "package-lock.json")
DEFAULT_DEST = pathlib.Path(tempfile.gettempdir()) / "sketchstyle-magenta-sketch-0.2.0"
MARKER = ".installed"  # Holds the manifests' hash; written last, so its presence means complete.
NPM_TIMEOUT_S = 600
NODE_TIMEOUT_S = 300
PDF_KEYS = ("pen", "pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr")


def _require_node():
    """Raises RuntimeError, with install hints, unless node and npm are on PATH."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found on PATH. Node.js 20 and npm are needed for the "
            "magenta-js reference runtime: apt-get install nodejs npm, or https://nodejs.org")


def _tail(text, n=2000):
    return text[-n:].strip()


def _manifest_hash():
    digest = hashlib.sha256()
    for name in MANIFESTS:
        digest.update((NODE_DIR / name).read_bytes())
    return digest.hexdigest()


def install(dest=None):
    """Installs @magenta/sketch 0.2.0 from the committed lock file, once per cache folder.

    A lock file next to the folder serialises installs, so parallel pytest workers wait for
    one `npm ci` instead of racing; a marker written last says the install is complete and
    matches the committed package.json and package-lock.json.

    Args:
      dest: Cache folder; defaults to <tempdir>/sketchstyle-magenta-sketch-0.2.0.

    Returns:
      The folder, which holds node_modules.

    Raises:
      RuntimeError: node or npm is missing, or `npm ci` failed (with npm's stderr tail).
    """
    _require_node()
    dest = pathlib.Path(dest) if dest is not None else DEFAULT_DEST
    dest.mkdir(parents=True, exist_ok=True)
    want = _manifest_hash()
    marker = dest / MARKER
    with open(dest.parent / f".{dest.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if marker.is_file() and marker.read_text() == want:
            return dest
        with contextlib.suppress(FileNotFoundError):
            marker.unlink()
        for name in MANIFESTS:
            shutil.copyfile(NODE_DIR / name, dest / name)
        try:
            proc = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=dest,
                                  capture_output=True, text=True, timeout=NPM_TIMEOUT_S)
        except subprocess.TimeoutExpired as err:
            raise RuntimeError(f"npm ci in {dest} took over {NPM_TIMEOUT_S} s: "
                               f"{_tail(err.stderr or '')}") from err
        if proc.returncode:
            raise RuntimeError(f"npm ci in {dest} failed (exit {proc.returncode}): "
                               f"{_tail(proc.stderr)}")
        marker.write_text(want)
    return dest


def run_pdf(model_path, strokes5, temperature=1.0, softmax_temperature=1.0, uniforms=None):
    """Feeds strokes to a model in @magenta/sketch and returns getPDF() after every step.

    Args:
      model_path: A `.gen.json` file.
      strokes5: (N, 5) stroke-5 rows in the model's normalised units, without S0. They reach
        the model as float32 (tfjs), unscaled: pdf.js sets the pixel factor so that
        update()'s scale factor is exactly 1.
      temperature: getPDF's temperature: sigmas are multiplied by sqrt(temperature).
      softmax_temperature: Divides the pen and pi logits before their softmax; None leaves
        getPDF's own default, 0.5 + 0.5 * temperature.
      uniforms: optional fixed random stream for Math.random(); then model.sample(pdf) also
        runs after each getPDF() and "samples" (N+1, 5) holds its strokes.

    Returns:
      A dict of float64 arrays with N + 1 rows (row t predicts strokes5[t]): "pen" (N+1, 3),
      and "pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr" (N+1, M); plus the floats
      "scale_factor" (1.0), "pixel_factor", "default_pixel_factor", "info_scale_factor" and the
      str "backend".

    Raises:
      RuntimeError: node or npm is missing, the install failed, or pdf.js failed.
    """
    dest = install()
    request = {"model": os.fspath(pathlib.Path(model_path).resolve()),
               "strokes": np.asarray(strokes5, dtype=np.float64).reshape(-1, 5).tolist(),
               "temperature": float(temperature),
               "softmax_temperature": (None if softmax_temperature is None
                                       else float(softmax_temperature))}
    if uniforms is not None:
        request["uniforms"] = np.asarray(uniforms, dtype=np.float64).ravel().tolist()
    try:
        proc = subprocess.run(["node", os.fspath(PDF_JS), os.fspath(dest)],
                              input=json.dumps(request), capture_output=True, text=True,
                              timeout=NODE_TIMEOUT_S)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"node {PDF_JS.name} took over {NODE_TIMEOUT_S} s") from err
    if proc.returncode:
        raise RuntimeError(f"node {PDF_JS.name} failed (exit {proc.returncode}): "
                           f"{_tail(proc.stderr)}")
    out = json.loads(proc.stdout)
    return {key: np.asarray(value, dtype=np.float64) if key in PDF_KEYS + ("samples",)
            else value if isinstance(value, str) else float(value)
            for key, value in out.items()}


def numpy_pdf(gen, strokes5, temperature, softmax_temperature):
    """getPDF() of magenta-js after S0 and each stroke, computed with js_format's numpy decoder.

    Same arguments and keys as run_pdf (without the scalars); no Node.js needed.
    """
    m = gen.num_mixture
    h = c = np.zeros(gen.num_units)
    rows = {key: [] for key in PDF_KEYS}
    for x in [np.array([0.0, 0.0, 1.0, 0.0, 0.0]), *strokes5]:
        h, c, head = js_format.numpy_decoder_step(gen, x, h, c)
        pen, pi, mu_x, mu_y, log_sx, log_sy, rho = np.split(head, [3 + k * m for k in range(7)])[:7]
        for key, logits in (("pen", pen), ("pi", pi)):
            z = np.exp(logits / softmax_temperature - np.max(logits / softmax_temperature))
            rows[key].append(z / z.sum())
        rows["mu_x"].append(mu_x)
        rows["mu_y"].append(mu_y)
        rows["sigma_x"].append(np.exp(log_sx) * np.sqrt(temperature))
        rows["sigma_y"].append(np.exp(log_sy) * np.sqrt(temperature))
        rows["corr"].append(np.tanh(rho))
    return {key: np.asarray(value) for key, value in rows.items()}


def numpy_js_sample(pdf, uniforms):
    """@magenta/sketch's SketchRNN.sample() on each row of a getPDF()-like dict, in numpy.

    Draws as magenta-js does from the stream `uniforms` (its Math.random()): the mixture
    index and the pen state by the cumulative sum of their probabilities, then two normals
    by the polar method (with its rejections), combined as its birandn().

    Returns:
      (N, 5) float64 strokes [dx, dy, p1, p2, p3].
    """
    stream = iter(np.asarray(uniforms, dtype=np.float64).ravel())

    def pick(p):
        x, acc = next(stream), 0.0
        for i, pi in enumerate(p):
            acc += pi
            if acc >= x:
                return i
        raise ValueError("probabilities sum below the draw")

    def normals():
        while True:
            u, v = 2 * next(stream) - 1, 2 * next(stream) - 1
            r = u * u + v * v
            if 0 < r <= 1:
                c = np.sqrt(-2 * np.log(r) / r)
                return u * c, v * c

    out = []
    for t in range(len(pdf["pen"])):
        k = pick(pdf["pi"][t])
        pen = pick(pdf["pen"][t])
        z1, z2 = normals()
        s1, s2, rho = pdf["sigma_x"][t][k], pdf["sigma_y"][t][k], pdf["corr"][t][k]
        x = np.sqrt(1 - rho * rho) * s1 * z1 + rho * s1 * z2 + pdf["mu_x"][t][k]
        y = s2 * z2 + pdf["mu_y"][t][k]
        out.append([x, y] + [float(pen == j) for j in range(3)])
    return np.asarray(out)


def first_drawing_stroke5(ndjson_path, num_rows=None):
    """The file's first QuickDraw simplified drawing as stroke-5, divided by its offsets' std.

    Rows are rounded to float32, the precision at which tfjs receives them.

    Args:
      ndjson_path: a QuickDraw simplified .ndjson file.
      num_rows: keep only the first rows (None: all).
    """
    with open(ndjson_path) as f:
        drawing = json.loads(f.readline())["drawing"]
    points, lifted = [], []
    for xs, ys in drawing:
        points += list(zip(xs, ys))
        lifted += [0] * (len(xs) - 1) + [1]
    points = np.asarray(points, dtype=np.float64)
    offsets = np.diff(points, axis=0, prepend=0.0)  # The first row is the offset from (0, 0).
    offsets /= offsets.std()
    lifted = np.asarray(lifted, dtype=np.float64)
    s5 = np.column_stack([offsets, 1 - lifted, lifted, np.zeros_like(lifted)])[:num_rows]
    return s5.astype(np.float32).astype(np.float64)
