"""The studio's Flask app: JSON API, input checks and stroke unit conversion, over the clients."""

import dataclasses
import io
import json
import logging
import math
import pathlib
import secrets
import warnings

import numpy as np
from flask import Flask, Response, jsonify, request, send_from_directory
from PIL import Image, UnidentifiedImageError
from werkzeug.exceptions import HTTPException

from common.errors import DataError
from common.images import io as images_io
from common.images import procedural
from common.strokes.formats import lines_to_stroke3, stroke3_to_lines
from common.strokes.quickdraw import CANVAS, simplify_drawing
from sketch_rnn.client import SketchModel
from sketch_rnn.client import parse_discrete_temperature
from sketch_rnn.latents import METHODS
from wae_style.client import StyleModel

STATIC_DIR = pathlib.Path(__file__).resolve().with_name("static")
RDP_EPSILON = 2.0  # The training data's simplification (QuickDraw recipe, SPEC Part A).
MAX_LEN_FACTOR = 2  # max_len may reach this times the model's max_seq_len.
MIN_EXTENT = 1.0  # Canvas drawings must span at least this many pixels.
IMAGE_FORMATS = ("JPEG", "PNG", "WEBP")
N_PRESETS = 4
PRESET_SEED = 0
LOOPBACK_HOSTS = ("127.0.0.1", "localhost")
UNITS = ("canvas", "model")
# Form encodings for /api/stylize (url-encoded forms can only name presets).
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")
DIGITS = 3  # Decimals kept in stroke-3 output.

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Limits:
    """Input limits; anything beyond them is refused with a 4xx JSON error.

    Attributes:
        max_body_bytes: request body cap (413 above it).
        max_drain_bytes: an oversize body up to this size is read and dropped before the
            413 is sent, so that a client still sending it reads the 413 instead of a
            broken pipe; a larger one is cut off (the client may see a broken pipe).
        max_points: points in one submitted drawing.
        max_coord: largest absolute stroke-3 value accepted.
        max_n: most drawings per request (n).
        min_steps, max_steps: interpolation frames.
        max_image_bytes: one uploaded image.
        max_image_pixels: declared width * height of an upload (decompression bombs).
        max_image_side: declared width or height of an upload.
        max_seed: largest seed.
        max_form_parts: multipart parts.
    """

    max_body_bytes: int = 4 * 1024 * 1024
    max_drain_bytes: int = 16 * 1024 * 1024
    max_points: int = 1000
    max_coord: float = 1e5
    max_n: int = 16
    min_steps: int = 2
    max_steps: int = 50
    max_image_bytes: int = 2 * 1024 * 1024
    max_image_pixels: int = 16_000_000
    max_image_side: int = 8192
    max_seed: int = 2**31 - 1
    max_form_parts: int = 8

    def to_dict(self):
        return dataclasses.asdict(self)


class ApiError(Exception):
    """A request the API refuses: `status` (4xx) and a message for the JSON body."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = str(message)


# ----------------------------------------------------------------------------- units


@dataclasses.dataclass(frozen=True)
class CanvasTransform:
    """Maps model stroke-3 units back to canvas pixels: canvas = origin + model / scale.

    Attributes:
        origin: (x, y) canvas position of the model's (0, 0).
        scale: model units per canvas pixel.
    """

    origin: tuple
    scale: float

    def offsets_to_canvas(self, s3):
        """Stroke-3 offsets in model units -> the same offsets in canvas pixels."""
        out = np.array(s3, dtype=np.float64).reshape(-1, 3)
        out[:, :2] /= self.scale
        return out

    def stroke3_to_canvas(self, s3):
        """Model-unit stroke-3 whose first row is absolute -> canvas stroke-3, same convention."""
        out = self.offsets_to_canvas(s3)
        if len(out):
            out[0, :2] = self.point_to_canvas(np.asarray(s3, np.float64)[0, :2])
        return out

    def point_to_canvas(self, xy):
        """An absolute model-unit point -> canvas pixels."""
        return np.asarray(self.origin, np.float64) + np.asarray(xy, np.float64) / self.scale


def canvas_to_model(s3, epsilon=RDP_EPSILON):
    """Canvas-pixel stroke-3 -> model units with the training data's recipe.

    The drawing is aligned to its top-left, scaled so its larger side is 255 (as
    QuickDraw), resampled, simplified with RDP (epsilon 2.0) and rounded: exactly
    `common.strokes.quickdraw.simplify_drawing`, Google's recipe for raw QuickDraw drawings.

    Args:
        s3: (N, 3) stroke-3 in canvas pixels; the first row is the first point's position.
        epsilon: RDP tolerance in model units.

    Returns:
        (stroke-3 (M, 3) int64 in model units, CanvasTransform back to canvas pixels).

    Raises:
        DataError: empty or malformed drawing, or one less than MIN_EXTENT pixels across.
    """
    lines = [np.asarray(line, np.float64) for line in stroke3_to_lines(np.asarray(s3, np.float64))]
    lines = [line for line in lines if len(line)]
    if not lines:
        raise DataError("drawing has no points")
    allp = np.concatenate(lines)  # (P, 2)
    lo = allp.min(axis=0)
    extent = float((allp.max(axis=0) - lo).max())
    if extent < MIN_EXTENT:  # 255 / extent would blow sub-pixel jitter up to a full drawing.
        raise DataError(f"drawing spans {extent:.3g} pixels; draw something at least "
                        f"{MIN_EXTENT:g} pixel across")
    scale = CANVAS / extent  # As simplify_drawing scales.
    drawing = [[line[:, 0].tolist(), line[:, 1].tolist()] for line in lines]
    simplified = simplify_drawing(drawing, epsilon)
    model_lines = [np.array(s, dtype=np.int64).T for s in simplified]  # (k, 2) each
    return lines_to_stroke3(model_lines), CanvasTransform((float(lo[0]), float(lo[1])), scale)


def rows(s3):
    """A stroke-3 array -> JSON rows [dx, dy, lift] (lift as an int)."""
    a = np.asarray(s3, np.float64).reshape(-1, 3)
    if not np.all(np.isfinite(a)):
        raise RuntimeError("the model produced non-finite strokes")
    return [[round(float(dx), DIGITS), round(float(dy), DIGITS), int(lift)] for dx, dy, lift in a]


# ----------------------------------------------------------------------------- images


def decode_image(data, size, limits, name):
    """Upload bytes -> float32 (size, size, 3) RGB in [0, 1], centre-cropped and resized.

    Only JPEG, PNG and WebP are decoded. The declared size is checked before any pixel is
    decoded; modes are converted as `common.images.io.load_image` does (alpha on white).

    Raises:
        ApiError: 400 for empty or undecodable bytes, 413 for too many bytes or pixels.
    """
    if not data:
        raise ApiError(400, f"{name}: empty upload")
    if len(data) > limits.max_image_bytes:
        raise ApiError(413, f"{name}: {len(data)} bytes exceeds the cap of "
                            f"{limits.max_image_bytes}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=IMAGE_FORMATS) as img:
                w, h = img.size
                if w * h > limits.max_image_pixels or max(w, h) > limits.max_image_side:
                    raise ApiError(413, f"{name}: declared size {w}x{h} exceeds the caps of "
                                        f"{limits.max_image_pixels} pixels and "
                                        f"{limits.max_image_side} per side")
                if img.format == "JPEG":
                    img.draft("RGB", (2 * size, 2 * size))
                img.load()
                arr = images_io.to_rgb_array(img)  # (H, W, 3)
    except ApiError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ApiError(413, f"{name}: refused as a decompression bomb ({e})") from None
    except UnidentifiedImageError:
        raise ApiError(400, f"{name}: not a JPEG, PNG or WebP image") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ApiError(400, f"{name}: cannot decode image ({e})") from None
    try:
        return images_io.crop_resize(arr, size, name)
    except DataError as e:
        raise ApiError(400, str(e)) from None


def png_bytes(image):
    """float (H, W, 3) in [0, 1] -> PNG bytes."""
    u8 = np.clip(np.round(np.asarray(image, np.float32) * 255.0), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8, mode="RGB").save(buf, format="PNG")
    return buf.getvalue()


# ----------------------------------------------------------------------------- models


# ----------------------------------------------------------------------------- validation


def _reject_constant(name):
    raise ValueError(f"{name} is not a finite number")


def json_body():
    """The request body as a JSON object, or ApiError (415 wrong type, 400 bad JSON)."""
    if request.mimetype != "application/json":
        raise ApiError(415, f"Content-Type must be application/json, got "
                            f"{request.mimetype or 'none'!r}")
    raw = request.get_data(cache=False)
    try:
        body = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError:
        raise ApiError(400, "body is not UTF-8") from None
    except (ValueError, RecursionError) as e:
        raise ApiError(400, f"body is not valid JSON ({str(e)[:200]})") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"body must be a JSON object, got {type(body).__name__}")
    return body


def check_keys(body, allowed):
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise ApiError(400, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")


def _missing(body, key, default):
    if key not in body or body[key] is None:
        if default is None:
            raise ApiError(400, f"missing field {key!r}")
        return True
    return False


def get_discrete_temperature(body, model, key="discrete_temperature"):
    """"paper" (the default: = temperature), "web" (0.5 + 0.5 x temperature) or a number > 0.

    400 for a bad value; 409 for anything but "paper" on an export written before the
    input existed (it can sample only with the paper's).
    """
    if _missing(body, key, "paper"):
        return "paper"
    value = body[key]
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ApiError(400, f"{key} must be 'paper', 'web' or a number, got {type(value).__name__}")
    try:
        setting = parse_discrete_temperature(value[:40] if isinstance(value, str) else value)
    except DataError as e:
        raise ApiError(400, str(e)) from None
    if setting != "paper" and not model.takes_discrete_temperature:
        raise ApiError(409, "this model's export has no discrete_temperature input (written "
                            "before it existed); it samples only with 'paper'")
    return setting


def get_number(body, key, lo, hi, default=None, lo_open=False):
    """A finite number in [lo, hi] ((lo, hi] with lo_open)."""
    if _missing(body, key, default):
        return float(default)
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ApiError(400, f"{key} must be a number, got {type(v).__name__}")
    try:
        v = float(v)
    except OverflowError:
        raise ApiError(400, f"{key} is too large") from None
    if not math.isfinite(v) or v > hi or v < lo or (lo_open and v == lo):
        left = "(" if lo_open else "["
        raise ApiError(400, f"{key}={v} must be a finite number in {left}{lo}, {hi}]")
    return v


def get_int(body, key, lo, hi, default=None):
    """An integer in [lo, hi]."""
    if _missing(body, key, default):
        return int(default)
    v = body[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ApiError(400, f"{key} must be an integer, got {type(v).__name__}")
    if not lo <= v <= hi:
        raise ApiError(400, f"{key} must be an integer in [{lo}, {hi}]")
    return v


def get_choice(body, key, choices, default):
    v = body.get(key, default)
    if v is None:
        v = default
    if not isinstance(v, str) or v not in choices:
        raise ApiError(400, f"{key} must be one of {list(choices)}, got {v!r}")
    return v


def get_strokes(body, key, limits):
    """A stroke-3 drawing: a list of 1..max_points rows [dx, dy, lift] of finite numbers."""
    if key not in body or body[key] is None:
        raise ApiError(400, f"missing field {key!r}")
    v = body[key]
    if not isinstance(v, list):
        raise ApiError(400, f"{key} must be a list of [dx, dy, lift] rows, got {type(v).__name__}")
    if not v:
        raise ApiError(400, f"{key} is empty: draw something first")
    if len(v) > limits.max_points:
        raise ApiError(400, f"{key} has {len(v)} points; at most {limits.max_points} are allowed")
    for i, row in enumerate(v):
        if not isinstance(row, list) or len(row) != 3:
            raise ApiError(400, f"{key}[{i}] must be a list [dx, dy, lift]")
        for x in row:
            if isinstance(x, bool) or not isinstance(x, (int, float)):
                raise ApiError(400, f"{key}[{i}] holds {type(x).__name__}, not a number")
            if isinstance(x, float) and not math.isfinite(x):
                raise ApiError(400, f"{key}[{i}] holds a non-finite number")
            if abs(x) > limits.max_coord:
                raise ApiError(400, f"{key}[{i}] holds {x:.6g}, beyond +-{limits.max_coord:g}")
        if row[2] not in (0, 1):
            raise ApiError(400, f"{key}[{i}]: lift must be 0 or 1, got {row[2]!r}")
    return np.array(v, dtype=np.float64)  # (N, 3)


def to_model_units(s3, units, model, key):
    """Validated stroke-3 -> (model-unit stroke-3, CanvasTransform) within max_seq_len."""
    if units == "model":
        transform = CanvasTransform((0.0, 0.0), 1.0)
        out = s3
    else:
        try:
            out, transform = canvas_to_model(s3)
        except DataError as e:
            raise ApiError(400, f"{key}: {e}") from None
    if len(out) > model.max_seq_len:
        raise ApiError(400, f"{key} has {len(out)} points after simplification; the model takes "
                            f"at most {model.max_seq_len}")
    return np.asarray(out, np.float64), transform


# ----------------------------------------------------------------------------- app


def _presets(size):
    """Bundled procedural content and style images: {"content": [...], "style": [...]}."""
    out = {}
    for kind in ("content", "style"):
        imgs = procedural.builtin_images(N_PRESETS, size=size,
                                         rng=np.random.default_rng(PRESET_SEED), kind=kind)
        out[kind] = [np.clip(im, 0.0, 1.0).astype(np.float32) for im in imgs]
    return out


def _drain(req, max_bytes):
    """Reads and drops an unread request body of at most `max_bytes` (declared length)."""
    length = req.content_length
    stream = req.environ.get("wsgi.input")
    if not length or length > max_bytes or stream is None:
        return
    try:
        while length > 0:
            chunk = stream.read(min(length, 1 << 16))
            if not chunk:
                break
            length -= len(chunk)
    except OSError:  # The client went away: nothing to answer.
        pass


def model_name(model, taken=()):
    """A short picker name for a SketchModel: its one class ("sheep"), else its run folder."""
    names = model.class_names
    path = pathlib.Path(model.path)
    base = names[0] if len(names) == 1 else (path.parent.name if path.name == "export"
                                              else path.name)
    name, k = base, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name


def load_sketch_models(sketch):
    """{name: SketchModel} from None, a model or path, a list of them, or a {name: ...} dict."""
    if sketch is None:
        return {}
    if isinstance(sketch, dict):
        items = list(sketch.items())
    else:
        items = [(None, m) for m in (sketch if isinstance(sketch, (list, tuple)) else [sketch])]
    models = {}
    for name, m in items:
        m = m if isinstance(m, SketchModel) else SketchModel(m)
        models[name or model_name(m, models)] = m
    return models


def create_app(sketch=None, style=None, limits=None, trusted_hosts=LOOPBACK_HOSTS):
    """Builds the studio app.

    Args:
        sketch: a SketchModel or an export path, a list of them, a {name: model or path}
            dict (the page's model picker; the first is the default), or None.
        style: a StyleModel, an export path, or None.
        limits: Limits (default Limits()).
        trusted_hosts: Host header names accepted (DNS-rebinding guard); None accepts any.

    Returns:
        a Flask app; run it with any WSGI server (scripts/serve.py uses Werkzeug's threaded one).
    """
    limits = limits or Limits()
    sketches = load_sketch_models(sketch)
    if style is not None and not isinstance(style, StyleModel):
        style = StyleModel(style)
    size = style.image_size if style is not None else 64
    presets = _presets(size)
    preset_png = {k: [png_bytes(im) for im in v] for k, v in presets.items()}

    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static")
    app.config.update(
        # Werkzeug also bounds its buffer for file parts by MAX_FORM_MEMORY_SIZE (so a
        # 64 KB value refused photos of a few hundred KB): the body cap bounds both.
        MAX_CONTENT_LENGTH=limits.max_body_bytes, MAX_FORM_MEMORY_SIZE=limits.max_body_bytes,
        MAX_FORM_PARTS=limits.max_form_parts,
        TRUSTED_HOSTS=list(trusted_hosts) if trusted_hosts else None)

    def need_sketch(body):
        if not sketches:
            raise ApiError(503, "no Sketch RNN model is loaded (start the server with "
                                "--sketch_model)")
        name = body.get("model")
        if name is None:
            return next(iter(sketches.values()))
        if not isinstance(name, str) or name not in sketches:
            raise ApiError(400, f"model must be one of {list(sketches)}, got "
                                f"{str(name)[:40]!r}")
        return sketches[name]

    def need_style():
        if style is None:
            raise ApiError(503, "no style-transfer model is loaded (start the server with "
                                "--style_model)")
        return style

    def seed_of(body):
        if body.get("seed") is None:
            return secrets.randbelow(limits.max_seed + 1)
        return get_int(body, "seed", 0, limits.max_seed)

    def max_len_of(body, model):
        # Up to twice the training length: a drawing may end past it (the data's own longest
        # sit at max_seq_len), so discrete temperature 1 ends more of them within 2x.
        return get_int(body, "max_len", 1, MAX_LEN_FACTOR * model.max_seq_len,
                       default=model.max_seq_len)

    @app.errorhandler(ApiError)
    def _api_error(e):
        return jsonify(error=e.message, status=e.status), e.status

    @app.errorhandler(HTTPException)
    def _http_error(e):
        return jsonify(error=e.description or e.name, status=e.code), e.code

    @app.before_request
    def _read_body():
        # Every answer, an early error included, comes after the whole body was read, so a
        # client still sending reads it instead of a broken pipe.
        length = request.content_length
        if length is not None and length > limits.max_body_bytes:
            _drain(request, limits.max_drain_bytes)
            raise ApiError(413, f"the request body ({length} bytes) exceeds the cap of "
                                f"{limits.max_body_bytes} bytes")
        request.get_data(cache=True)  # Bounded by MAX_CONTENT_LENGTH; parsers reuse it.

    @app.errorhandler(Exception)
    def _internal(e):
        log.exception("unexpected error")
        return jsonify(error=f"internal error ({type(e).__name__})", status=500), 500

    @app.after_request
    def _headers(resp):
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
            "base-uri 'none'; frame-ancestors 'none'")
        if request.path.startswith("/api/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.get("/")
    def index():
        return send_from_directory(STATIC_DIR, "index.html")

    @app.get("/api/health")
    def health():
        listed = [{"name": name, **m.info(), "max_len": MAX_LEN_FACTOR * m.max_seq_len}
                  for name, m in sketches.items()]
        return jsonify(status="ok",
                       models={"sketch": listed[0] if listed else None, "sketches": listed,
                               "style": style.info() if style else None},
                       limits=limits.to_dict(), rdp_epsilon=RDP_EPSILON, canvas_box=CANVAS)

    @app.post("/api/sample")
    def sample():
        body = json_body()
        check_keys(body, ("temperature", "n", "seed", "max_len", "model", "discrete_temperature"))
        model = need_sketch(body)
        tau = get_number(body, "temperature", 0.0, 1.0, default=0.5, lo_open=True)
        discrete = get_discrete_temperature(body, model)
        n = get_int(body, "n", 1, limits.max_n, default=1)
        seed = seed_of(body)
        out = model.sample(n, tau, seed, max_len_of(body, model), discrete_temperature=discrete)
        return jsonify(seed=seed, temperature=tau, discrete_temperature=discrete,
                       samples=[rows(s) for s in out])

    @app.post("/api/complete")
    def complete():
        body = json_body()
        check_keys(body, ("strokes", "temperature", "n", "seed", "max_len", "units", "model",
                          "discrete_temperature"))
        model = need_sketch(body)
        units = get_choice(body, "units", UNITS, "canvas")
        s3 = get_strokes(body, "strokes", limits)
        tau = get_number(body, "temperature", 0.0, 1.0, default=0.5, lo_open=True)
        discrete = get_discrete_temperature(body, model)
        n = get_int(body, "n", 1, limits.max_n, default=1)
        seed = seed_of(body)
        max_len = max_len_of(body, model)
        prefix, transform = to_model_units(s3, units, model, "strokes")
        out = model.complete(prefix, n, tau, seed, max_len, discrete_temperature=discrete)
        last = np.cumsum(prefix[:, :2], axis=0)[-1]  # (2,)
        origin = transform.point_to_canvas(last)
        return jsonify(
            seed=seed, temperature=tau, discrete_temperature=discrete, units=units,
            prefix=rows(prefix),
            prefix_canvas=rows(transform.stroke3_to_canvas(prefix)),
            origin=[round(float(origin[0]), DIGITS), round(float(origin[1]), DIGITS)],
            scale=transform.scale,
            completions=[{"strokes": rows(c), "canvas": rows(transform.offsets_to_canvas(c))}
                         for c in out])

    @app.post("/api/interpolate")
    def interpolate_route():
        body = json_body()
        check_keys(body, ("a", "b", "steps", "method", "temperature", "seed", "max_len", "units",
                          "model", "discrete_temperature"))
        model = need_sketch(body)
        units = get_choice(body, "units", UNITS, "canvas")
        a = get_strokes(body, "a", limits)
        b = get_strokes(body, "b", limits)
        steps = get_int(body, "steps", limits.min_steps, limits.max_steps, default=10)
        method = get_choice(body, "method", METHODS, "linear")
        tau = get_number(body, "temperature", 0.0, 1.0, default=0.1, lo_open=True)
        discrete = get_discrete_temperature(body, model)
        seed = get_int(body, "seed", 0, limits.max_seed, default=0)
        max_len = max_len_of(body, model)
        if not model.conditional:
            raise ApiError(409, "the loaded Sketch RNN is unconditional (no encoder), so it "
                                "cannot interpolate between drawings")
        a_m, _ = to_model_units(a, units, model, "a")
        b_m, _ = to_model_units(b, units, model, "b")
        out = model.interpolate(a_m, b_m, steps, method, tau, seed, max_len,
                                discrete_temperature=discrete)  # Shared noise.
        t = np.linspace(0.0, 1.0, steps)
        return jsonify(method=method, steps=steps, temperature=tau,
                       discrete_temperature=discrete, seed=seed,
                       a=rows(a_m), b=rows(b_m),
                       frames=[{"t": round(float(ti), 6), "strokes": rows(s)}
                               for ti, s in zip(t, out)])

    def _image_arg(kind):
        f = request.files.get(kind)
        preset = request.form.get(f"{kind}_preset")
        if f is not None and preset is not None:
            raise ApiError(400, f"give either {kind} (a file) or {kind}_preset, not both")
        if f is not None:
            data = f.stream.read(limits.max_image_bytes + 1)
            return decode_image(data, size, limits, f"{kind} upload {f.filename!r}")
        if preset is not None:
            if not preset.isdigit() or int(preset) >= N_PRESETS:
                raise ApiError(400, f"{kind}_preset must be an integer in [0, {N_PRESETS - 1}], "
                                    f"got {preset[:20]!r}")
            return presets[kind][int(preset)]
        raise ApiError(400, f"missing {kind}: upload a file field {kind!r} or give {kind}_preset")

    @app.post("/api/stylize")
    def stylize():
        model = need_style()
        if request.mimetype not in FORM_TYPES:
            raise ApiError(415, f"Content-Type must be multipart/form-data, got "
                                f"{request.mimetype or 'none'!r}")
        allowed = {"content", "style", "content_preset", "style_preset", "strength"}
        unknown = sorted((set(request.files) | set(request.form)) - allowed)
        if unknown:
            raise ApiError(400, f"unknown field(s) {unknown}; allowed: {sorted(allowed)}")
        if len(request.files.getlist("content")) > 1 or len(request.files.getlist("style")) > 1:
            raise ApiError(400, "upload one content and one style image")
        strength_text = request.form.get("strength", "1")
        try:
            strength = float(strength_text)
        except ValueError:
            raise ApiError(400, f"strength must be a number, got {strength_text[:20]!r}") from None
        if not math.isfinite(strength) or not 0.0 <= strength <= 1.0:
            raise ApiError(400, f"strength={strength_text[:20]} must lie in [0, 1]")
        content = _image_arg("content")
        style_img = _image_arg("style")
        image = model.transfer(content, style_img, strength)
        return Response(png_bytes(image), mimetype="image/png")

    @app.get("/api/presets")
    def presets_index():
        return jsonify({kind: [{"index": i, "url": f"/api/presets/{kind}/{i}.png"}
                               for i in range(N_PRESETS)] for kind in ("content", "style")})

    @app.get("/api/presets/<kind>/<int:index>.png")
    def preset_image(kind, index):
        if kind not in preset_png or index >= N_PRESETS:
            raise ApiError(404, f"no preset {kind}/{index}")
        return Response(preset_png[kind][index], mimetype="image/png")

    return app
