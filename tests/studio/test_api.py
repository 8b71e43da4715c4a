"""Studio API tests: Flask test client, every kind of bad input, unit conversion, concurrency, serve.py."""

import concurrent.futures
import io
import json
import math
import pathlib
import struct
import subprocess
import sys
import threading
import zlib

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from common.errors import DataError
from common.strokes import quickdraw
from studio import server
from common.strokes.formats import stroke3_to_lines, validate_stroke3
from studio import screenshot
from studio import serve
from sketch_rnn.client import SketchModel
from wae_style.client import StyleModel

# A zigzag stroke and a line, in canvas pixels (first row absolute).
DRAWING = ([[100.0, 100.0, 0]] + [[6.0, (-1) ** i * 9.0, 0] for i in range(20)] + [[0.0, 0.0, 1]]
           + [[-90.0, 80.0, 0]] + [[4.0, -2.5, 0]] * 15 + [[1.0, 1.0, 1]])


@pytest.fixture(scope="module")
def app(studio_models):
    return server.create_app(*studio_models)


@pytest.fixture(scope="module")
def client(app):
    return app.test_client()


def png(size=(80, 60), mode="RGB", fmt="PNG", color=(200, 30, 30)):
    img = Image.new(mode, size, color if mode == "RGB" else color + (128,))
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return buf.getvalue()


def png_declaring(width, height):
    """A tiny PNG whose header declares width x height (a decompression bomb's shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
            + chunk(b"IEND", b""))


def assert_error(resp, status):
    assert resp.status_code == status, (resp.status_code, resp.data[:300])
    assert resp.mimetype == "application/json"
    body = resp.get_json()
    assert isinstance(body["error"], str) and body["error"]
    assert body["status"] == status
    return body["error"]


def assert_stroke3_rows(rows_, allow_empty=True):
    assert isinstance(rows_, list)
    if not rows_:
        assert allow_empty
        return np.zeros((0, 3))
    a = validate_stroke3(np.array(rows_, dtype=np.float64))
    assert all(isinstance(r[2], int) for r in rows_)
    return a


def post_json_raw(client, path, text, content_type="application/json"):
    return client.post(path, data=text, content_type=content_type)


# ----------------------------------------------------------------------------- pure helpers


def test_canvas_to_model_matches_the_quickdraw_recipe():
    s3 = np.array(DRAWING)
    model, transform = server.canvas_to_model(s3)
    lines = stroke3_to_lines(s3)
    drawing = [[line[:, 0].tolist(), line[:, 1].tolist()] for line in lines]
    expected = [np.array(s).T for s in quickdraw.simplify_drawing(drawing, 2.0)]
    assert [len(x) for x in stroke3_to_lines(model)] == [len(x) for x in expected]
    for got, want in zip(stroke3_to_lines(model), expected):
        np.testing.assert_array_equal(got, want)
    absolute = np.cumsum(model[:, :2], axis=0)  # (M, 2)
    assert absolute.min() == 0 and absolute.max() == 255
    assert int(model[:, 2].sum()) == 2  # One lift per stroke.
    # Mapping back lands each stroke's end points on the drawn ones (within rounding).
    back = np.cumsum(transform.stroke3_to_canvas(model)[:, :2], axis=0)  # (M, 2)
    ends = np.flatnonzero(model[:, 2] == 1)
    drawn_ends = np.cumsum(s3[:, :2], axis=0)[np.flatnonzero(s3[:, 2] == 1)]
    np.testing.assert_allclose(back[ends], drawn_ends, atol=1.0 / transform.scale)


@settings(max_examples=40, deadline=None)
@example(points=[(0.0, 0.0, False), (2.0, 0.0, False), (-1.0, 0.0, False)], k=1.0, ox=0.0,
         oy=0.0)  # Doubles back along itself: RDP drops the turning point.
@given(st.lists(st.tuples(st.floats(-300, 300), st.floats(-300, 300), st.booleans()),
                min_size=1, max_size=60),
       st.floats(1.0, 10.0), st.floats(-500, 500), st.floats(-500, 500))
def test_canvas_to_model_is_scale_and_shift_invariant(points, k, ox, oy):
    s3 = np.array([[x, y, float(lift)] for x, y, lift in points])
    s3[-1, 2] = 1.0
    extent = np.ptp(np.cumsum(s3[:, :2], axis=0), axis=0).max()
    if extent < 1.0:
        with pytest.raises(DataError, match="draw something"):
            server.canvas_to_model(s3)
        return
    model, transform = server.canvas_to_model(s3)
    assert model.dtype.kind == "i"
    absolute = np.cumsum(model[:, :2], axis=0)
    # Inside the 255 box. The extremes themselves can go: RDP measures the distance to the
    # line through a run's end points, so a stroke that doubles back along itself
    # (0 -> 2 -> 1 on one line) loses its turning point, as in Google's recipe.
    assert absolute.min() >= 0 and absolute.max() <= 255
    assert int(model[:, 2].sum()) == int(s3[:, 2].sum())  # One lift per stroke.
    moved = s3.copy()
    moved[:, :2] *= k
    moved[0, :2] += (ox, oy)
    model2, transform2 = server.canvas_to_model(moved)
    # Rounding at .5 can flip a pixel; the structure and the points stay (nearly) the same.
    assert int(model2[:, 2].sum()) == int(model[:, 2].sum())
    if len(model2) == len(model):
        assert np.abs(np.cumsum(model2[:, :2], 0) - absolute).max() <= 1
    np.testing.assert_allclose(transform2.scale * k, transform.scale, rtol=1e-6)


def test_decode_image_converts_crops_and_resizes():
    limits = server.Limits()
    rgba = Image.new("RGBA", (120, 60), (0, 0, 0, 0))
    buf = io.BytesIO()
    rgba.save(buf, format="PNG")
    out = server.decode_image(buf.getvalue(), 64, limits, "x")
    assert out.shape == (64, 64, 3) and out.dtype == np.float32
    np.testing.assert_allclose(out, 1.0, atol=1e-3)  # Transparent on white.
    for fmt in ("JPEG", "WEBP"):
        out = server.decode_image(png(fmt=fmt), 64, limits, "x")
        assert out.shape == (64, 64, 3) and out[..., 0].mean() > 0.6


# ----------------------------------------------------------------------------- happy paths


def test_health_reports_models_and_limits(client):
    resp = client.get("/api/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["status"] == "ok"
    assert body["models"]["sketch"]["max_seq_len"] == 32
    assert body["models"]["sketch"]["max_len"] == 64  # Twice the training length.
    assert body["models"]["sketch"]["conditional"] is True
    assert body["models"]["style"]["image_size"] == 64
    assert body["limits"]["max_points"] == 1000


def test_page_and_static_files_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200 and b"<canvas" in page.data
    assert b"http://" not in page.data and b"https://" not in page.data  # No CDN.
    for name, kind in (("studio.js", "javascript"), ("studio.css", "css")):
        resp = client.get(f"/static/{name}")
        assert resp.status_code == 200 and kind in resp.mimetype
        assert b"https://" not in resp.data and len(resp.data) < 20_000
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_complete_returns_n_valid_continuations(client):
    resp = client.post("/api/complete", json={"strokes": DRAWING, "temperature": 0.5, "n": 3,
                                              "seed": 7})
    assert resp.status_code == 200, resp.data
    body = resp.get_json()
    assert body["seed"] == 7 and len(body["completions"]) == 3
    prefix = assert_stroke3_rows(body["prefix"], allow_empty=False)
    assert len(prefix) <= 32 and np.cumsum(prefix[:, :2], 0).max() == 255
    canvas = np.cumsum(np.array(body["prefix_canvas"])[:, :2], 0)
    np.testing.assert_allclose(canvas[-1], body["origin"], atol=1e-2)
    for c in body["completions"]:
        s = assert_stroke3_rows(c["strokes"])
        k = assert_stroke3_rows(c["canvas"])
        assert len(s) == len(k) <= 32
        np.testing.assert_allclose(k[:, :2] * body["scale"], s[:, :2], atol=0.01)
    again = client.post("/api/complete", json={"strokes": DRAWING, "temperature": 0.5, "n": 3,
                                               "seed": 7}).get_json()
    assert again["completions"] == body["completions"]  # Seeded: reproducible.


def test_complete_in_model_units_skips_conversion(client):
    s3 = [[10, 20, 0], [30, 5, 0], [5, 30, 1]]
    body = client.post("/api/complete", json={"strokes": s3, "units": "model", "n": 1,
                                              "seed": 1}).get_json()
    assert body["prefix"] == [[float(a), float(b), c] for a, b, c in s3]
    assert body["origin"] == [45.0, 55.0] and body["scale"] == 1.0


def test_sample_and_interpolate(client):
    body = client.post("/api/sample", json={"n": 4, "temperature": 0.3, "seed": 3}).get_json()
    assert len(body["samples"]) == 4
    for s in body["samples"]:
        assert_stroke3_rows(s)
    b = [[50, 50, 0], [100, 0, 0], [0, 100, 1]]
    for method in ("linear", "slerp"):
        resp = client.post("/api/interpolate", json={"a": DRAWING, "b": b, "steps": 5,
                                                     "method": method})
        assert resp.status_code == 200, resp.data
        frames = resp.get_json()["frames"]
        assert [f["t"] for f in frames] == [0.0, 0.25, 0.5, 0.75, 1.0]
        for f in frames:
            assert_stroke3_rows(f["strokes"])


def test_every_pen_and_mixture_choice_of_the_page_is_accepted(client):
    import re
    page = (pathlib.Path(server.STATIC_DIR) / "index.html").read_text()
    select = page.split('id="discrete"')[1].split("</select>")[0]
    values = re.findall(r'<option value="([^"]+)"', select)
    assert values == ["paper", "web", "1"]
    assert tuple(values) == screenshot.DISCRETE  # What scripts.studio_screenshot may pick.
    for value in values:  # Sent as the page sends them: the option's text.
        body = client.post("/api/sample", json={"n": 1, "temperature": 0.2, "seed": 1,
                                                "discrete_temperature": value}).get_json()
        assert "samples" in body, body


def test_discrete_temperature_reaches_the_client_and_bad_values_are_refused(client,
                                                                          studio_models):
    model = studio_models[0]
    b = [[50, 50, 0], [100, 0, 0], [0, 100, 1]]
    for setting in ("paper", "web", 0.9):
        body = client.post("/api/sample", json={"n": 3, "temperature": 0.2, "seed": 4,
                                                "discrete_temperature": setting}).get_json()
        assert body["discrete_temperature"] == setting
        want = model.sample(3, 0.2, 4, discrete_temperature=setting)
        assert [len(s) for s in body["samples"]] == [len(w) for w in want]
        np.testing.assert_allclose(np.array(sum(body["samples"], []), float).reshape(-1, 3),
                                   np.concatenate(want).reshape(-1, 3), atol=1e-3)
        for path, extra in (("/api/complete", {"strokes": DRAWING, "n": 2}),
                            ("/api/interpolate", {"a": DRAWING, "b": b, "steps": 3})):
            resp = client.post(path, json={"discrete_temperature": setting, "seed": 1, **extra})
            assert resp.status_code == 200, resp.data
            assert resp.get_json()["discrete_temperature"] == setting
    default = client.post("/api/sample", json={"n": 3, "temperature": 0.2, "seed": 4}).get_json()
    assert default["discrete_temperature"] == "paper"
    for bad, needle in (("warm", "discrete_temperature='warm'"), (-1, "discrete_temperature=-1"),
                        (0, "discrete_temperature=0"), (True, "must be 'paper', 'web' or a number"),
                        ([1], "must be 'paper', 'web' or a number")):
        for path, extra in (("/api/sample", {}), ("/api/complete", {"strokes": DRAWING})):
            error = assert_error(client.post(path, json={"discrete_temperature": bad, **extra}),
                                 400)
            assert needle in error and "\n" not in error


def test_an_old_export_samples_only_with_the_paper_setting(studio_models, monkeypatch):
    model = studio_models[0]
    monkeypatch.setattr(model, "takes_discrete_temperature", False)
    old = server.create_app(model).test_client()
    assert old.post("/api/sample", json={"n": 1, "seed": 1}).status_code == 200
    error = assert_error(old.post("/api/sample", json={"discrete_temperature": "web"}), 409)
    assert "only with 'paper'" in error


@pytest.mark.parametrize("fields", [
    {"content_preset": "0", "style_preset": "3", "strength": "0.5"},
    {"content": (io.BytesIO(png()), "c.png"), "style_preset": "1"},
    {"content": (io.BytesIO(png(fmt="JPEG")), "c.jpg"),
     "style": (io.BytesIO(png((30, 90), fmt="WEBP")), "s.webp"), "strength": "0"},
])
def test_stylize_returns_a_png(client, fields):
    resp = client.post("/api/stylize", data=dict(fields), content_type="multipart/form-data")
    assert resp.status_code == 200, resp.data
    assert resp.mimetype == "image/png"
    img = Image.open(io.BytesIO(resp.data))
    assert img.format == "PNG" and img.size == (64, 64) and img.mode == "RGB"


def test_presets(client):
    index = client.get("/api/presets").get_json()
    assert len(index["content"]) == len(index["style"]) == server.N_PRESETS
    resp = client.get(index["style"][2]["url"])
    assert resp.status_code == 200 and Image.open(io.BytesIO(resp.data)).size == (64, 64)
    assert_error(client.get("/api/presets/style/9.png"), 404)
    assert_error(client.get("/api/presets/nope/0.png"), 404)


# ----------------------------------------------------------------------------- bad input

HUGE_INT = "9" * 5000  # Beyond Python's int-from-text digit limit.

BAD_JSON = [
    ("{not json", 400),
    ('{"strokes": [[1, 2, 0]]', 400),
    ("[1, 2, 3]", 400),
    ('"text"', 400),
    ("null", 400),
    ('{"strokes": [[NaN, 1, 1]]}', 400),
    ('{"strokes": [[Infinity, 1, 1]]}', 400),
    ('{"strokes": [[1, -Infinity, 1]]}', 400),
    ('{"strokes": [[1e400, 1, 1]]}', 400),
    ('{"strokes": [[%s, 1, 1]]}' % HUGE_INT, 400),
    ('{"strokes": [[1, 2, 1]], "temperature": NaN}', 400),
    ('{"strokes": [[1, 2, 1]], "temperature": 1e999}', 400),
    ("[" * 100_000 + "]" * 100_000, 400),
]


@pytest.mark.parametrize("text,status", BAD_JSON)
def test_complete_refuses_malformed_json(client, text, status):
    assert_error(post_json_raw(client, "/api/complete", text), status)


def test_refuses_non_utf8_and_wrong_content_types(client):
    assert_error(post_json_raw(client, "/api/complete", b"\xff\xfe{}"), 400)
    ok = json.dumps({"strokes": DRAWING})
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        assert_error(post_json_raw(client, "/api/complete", ok, ctype), 415)
    assert_error(client.post("/api/complete", data=ok), 415)  # No content type.
    assert_error(client.post("/api/stylize", json={"content_preset": "0"}), 415)


def _with(**fields):
    body = {"strokes": DRAWING, "temperature": 0.5, "n": 2, "seed": 1}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not _DROP}


_DROP = object()

BAD_COMPLETE = [
    _with(strokes=_DROP),
    _with(strokes="1,2,0"),
    _with(strokes=[]),
    _with(strokes={"dx": 1}),
    _with(strokes=[[1, 2]]),
    _with(strokes=[[1, 2, 0, 0]]),
    _with(strokes=[1, 2, 0]),
    _with(strokes=[["1", 2, 0]]),
    _with(strokes=[[1, None, 0]]),
    _with(strokes=[[True, 2, 0]]),
    _with(strokes=[[1, 2, 2]]),
    _with(strokes=[[1, 2, 0.5]]),
    _with(strokes=[[1, 2, -1]]),
    _with(strokes=[[1e6, 2, 1]]),
    _with(strokes=[[10 ** 30, 2, 1]]),
    _with(strokes=[[1.0, 1.0, 0]] * 1000 + [[1.0, 1.0, 1]]),  # 1001 points.
    _with(strokes=[[5, 5, 1]]),  # A dot: nothing to scale.
    _with(strokes=[[5, 5, 0], [0.2, 0.1, 1]]),  # Sub-pixel jitter.
    _with(temperature=0),
    _with(temperature=-0.1),
    _with(temperature=1.01),
    _with(temperature="0.5"),
    _with(temperature=True),
    _with(temperature=[0.5]),
    _with(temperature=10 ** 400),
    _with(n=0),
    _with(n=17),
    _with(n=2.5),
    _with(n="3"),
    _with(n=False),
    _with(seed=-1),
    _with(seed=2 ** 31),
    _with(seed=1.5),
    _with(max_len=0),
    _with(max_len=65),
    _with(units="furlongs"),
    _with(units=1),
    _with(extra=1),
]


@pytest.mark.parametrize("body", BAD_COMPLETE, ids=range(len(BAD_COMPLETE)))
def test_complete_refuses_bad_fields(client, body):
    assert_error(client.post("/api/complete", json=body), 400)


def test_max_len_may_reach_twice_the_training_length(client):
    """max_len up to 2 x max_seq_len (64 for the test model) is served, and bounds the output."""
    resp = client.post("/api/sample", json={"n": 4, "seed": 3, "max_len": 64,
                                            "temperature": 1.0, "discrete_temperature": "1"})
    assert resp.status_code == 200, resp.get_json()
    lengths = [len(s) for s in resp.get_json()["samples"]]
    assert max(lengths) <= 64
    resp = client.post("/api/complete", json={"strokes": DRAWING, "max_len": 64, "seed": 3})
    assert resp.status_code == 200, resp.get_json()
    assert_error(client.post("/api/sample", json={"max_len": 65}), 400)


def test_complete_refuses_drawings_too_long_after_simplification(client):
    rng = np.random.default_rng(0)
    scribble = [[float(x), float(y), 0] for x, y in rng.uniform(-150, 150, (400, 2))]
    scribble[-1][2] = 1
    msg = assert_error(client.post("/api/complete", json={"strokes": scribble}), 400)
    assert "at most 32" in msg


@pytest.mark.parametrize("body", [
    {"n": 0}, {"n": 99}, {"temperature": 0}, {"temperature": "hot"}, {"seed": -5},
    {"max_len": 10 ** 6}, {"strokes": DRAWING},
])
def test_sample_refuses_bad_fields(client, body):
    assert_error(client.post("/api/sample", json=body), 400)


B = [[50, 50, 0], [100, 0, 0], [0, 100, 1]]


@pytest.mark.parametrize("body", [
    {"b": B}, {"a": B}, {"a": B, "b": []}, {"a": B, "b": B, "steps": 1},
    {"a": B, "b": B, "steps": 51}, {"a": B, "b": B, "method": "cubic"},
    {"a": B, "b": B, "temperature": 2}, {"a": B, "b": [[math.pi, "e", 1]]},
    {"a": B, "b": B, "steps": 3.0},
])
def test_interpolate_refuses_bad_fields(client, body):
    assert_error(client.post("/api/interpolate", json=body), 400)


def _form(**fields):
    return {k: (io.BytesIO(v[0]), v[1]) if isinstance(v, tuple) else v for k, v in fields.items()}


BAD_STYLIZE = [
    ({}, 400),
    ({"content_preset": "0"}, 400),
    ({"content_preset": "9", "style_preset": "0"}, 400),
    ({"content_preset": "-1", "style_preset": "0"}, 400),
    ({"content_preset": "x", "style_preset": "0"}, 400),
    ({"content_preset": "0", "style_preset": "0", "strength": "abc"}, 400),
    ({"content_preset": "0", "style_preset": "0", "strength": "nan"}, 400),
    ({"content_preset": "0", "style_preset": "0", "strength": "inf"}, 400),
    ({"content_preset": "0", "style_preset": "0", "strength": "1.5"}, 400),
    ({"content_preset": "0", "style_preset": "0", "colour": "red"}, 400),
    ({"content": (png(), "c.png"), "content_preset": "0", "style_preset": "0"}, 400),
    ({"content": (b"not an image at all", "c.png"), "style_preset": "0"}, 400),
    ({"content": (b"", "c.png"), "style_preset": "0"}, 400),
    ({"content": (png()[:60], "c.png"), "style_preset": "0"}, 400),  # Truncated.
    ({"content": (png(fmt="GIF"), "c.gif"), "style_preset": "0"}, 400),  # Not an allowed type.
    ({"content": (png(fmt="BMP"), "c.bmp"), "style_preset": "0"}, 400),
    ({"content": (png_declaring(5000, 5000), "big.png"), "style_preset": "0"}, 413),
    ({"content": (png_declaring(9000, 10), "wide.png"), "style_preset": "0"}, 413),
    ({"content": (png_declaring(100_000, 100_000), "bomb.png"), "style_preset": "0"}, 413),
]


@pytest.mark.parametrize("fields,status", BAD_STYLIZE, ids=range(len(BAD_STYLIZE)))
def test_stylize_refuses_bad_input(client, fields, status):
    resp = client.post("/api/stylize", data=_form(**fields), content_type="multipart/form-data")
    assert_error(resp, status)


def test_body_and_image_size_caps(studio_models):
    small = server.create_app(*studio_models, limits=server.Limits(
        max_body_bytes=50_000, max_image_bytes=2_000)).test_client()
    assert_error(small.post("/api/complete", data=b"x" * 60_000,
                            content_type="application/json"), 413)
    big_drawing = json.dumps({"strokes": [[1.5, 2.5, 0]] * 999 + [[1, 1, 1]]})
    assert_error(small.post("/api/complete", data=big_drawing * 4,
                            content_type="application/json"), 413)
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="PNG")
    assert len(buf.getvalue()) > 2_000
    resp = small.post("/api/stylize", data=_form(content=(buf.getvalue(), "n.png"),
                                                 style_preset="0"),
                      content_type="multipart/form-data")
    assert_error(resp, 413)
    parts = {f"f{i}": str(i) for i in range(20)}
    assert_error(small.post("/api/stylize", data=parts, content_type="multipart/form-data"), 413)


def test_stylize_takes_uploads_of_hundreds_of_kilobytes(client):
    # Photos of a few hundred KB are the common case; the body cap (2 MiB) is the limit.
    noise = np.random.default_rng(3).integers(0, 255, (700, 700, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(noise).save(buf, format="JPEG", quality=95)
    assert 300_000 < len(buf.getvalue()) < 2 * 1024 * 1024
    resp = client.post("/api/stylize", data=_form(content=(buf.getvalue(), "photo.jpg"),
                                                  style=(buf.getvalue(), "style.jpg")),
                       content_type="multipart/form-data")
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"] == "image/png"


def _post_raw(port, body, declared=None):
    """POSTs `body` over a raw socket, sending all of it, then returns the status line."""
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        head = (f"POST /api/complete HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\n"
                f"Content-Length: {declared or len(body)}\r\n\r\n").encode()
        sock.sendall(head + body)  # Fails with a broken pipe if the server stops reading.
        return sock.makefile("rb").readline().decode()


def test_oversize_body_is_drained_so_the_client_reads_413():
    from werkzeug.serving import make_server

    app = server.create_app(limits=server.Limits(max_body_bytes=1000,
                                                 max_drain_bytes=16 << 20))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        # 8 MB is far more than the socket buffers: without the drain the send breaks.
        assert " 413 " in _post_raw(httpd.server_port, b" " * (8 << 20))
        assert " 413 " in _post_raw(httpd.server_port, b" " * 5000)
    finally:
        httpd.shutdown()


def test_routing_method_and_host_errors_are_json(client):
    assert_error(client.get("/api/complete"), 405)
    assert_error(client.post("/api/health"), 405)
    assert_error(client.get("/api/nothing"), 404)
    assert_error(client.get("/api/health", headers={"Host": "evil.example:8000"}), 400)
    assert client.get("/api/health", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_missing_models_give_503(studio_models):
    empty = server.create_app().test_client()
    assert empty.get("/api/health").get_json()["models"] == {"sketch": None, "sketches": [],
                                                                "style": None}
    assert_error(empty.post("/api/complete", json={"strokes": DRAWING}), 503)
    assert_error(empty.post("/api/stylize", data={"content_preset": "0", "style_preset": "0"}),
                 503)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10 ** 40, 10 ** 40) | st.floats(allow_nan=False)
    | st.text(max_size=5), lambda kids: st.lists(kids, max_size=4), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["strokes", "temperature", "n", "seed", "max_len",
                                        "units", "junk"]), JSONISH, max_size=5))
def test_fuzzed_bodies_never_give_a_server_error(client, body):
    resp = client.post("/api/complete", data=json.dumps(body, allow_nan=True),
                       content_type="application/json")
    assert resp.status_code in (200, 400), resp.data
    if resp.status_code == 400:
        assert resp.get_json()["error"]


def test_concurrent_requests_are_safe(app):
    def call(i):
        c = app.test_client()
        if i % 3 == 2:
            return c.post("/api/stylize", data={"content_preset": "1", "style_preset": "2"})
        return c.post("/api/complete", json={"strokes": DRAWING, "n": 2, "seed": i % 2})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(call, range(24)))
    assert all(r.status_code == 200 for r in results)
    by_seed = {}
    for i, r in enumerate(results):
        if i % 3 != 2:
            by_seed.setdefault(i % 2, []).append(r.get_json()["completions"])
    for outs in by_seed.values():
        assert all(o == outs[0] for o in outs)  # Same seed, same answer under load.
    pngs = {r.data for i, r in enumerate(results) if i % 3 == 2}
    assert len(pngs) == 1


# ----------------------------------------------------------------------------- scripts/serve.py


def test_serve_without_models_exits_with_the_demo_command(tmp_path):
    # --models_dir too: a checkout may hold ./models from scripts.reproduce_sketch_rnn.
    proc = subprocess.run([sys.executable, "-m", "scripts.serve", f"--demo_out={tmp_path}",
                           f"--models_dir={tmp_path / 'models'}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "scripts.demo" in proc.stderr and "--sketch_model" in proc.stderr


def test_serve_finds_demo_exports(tmp_path, capsys):
    (tmp_path / "wae_style" / "export").mkdir(parents=True)
    (tmp_path / "wae_style" / "export" / "saved_model.pb").write_bytes(b"")
    assert serve.find_models(None, None, tmp_path) == ([], tmp_path / "wae_style" / "export")
    assert "sketch_rnn" in capsys.readouterr().out
    assert serve.find_models("a", None, tmp_path) == ([pathlib.Path("a")], None)
    models = tmp_path / "models"  # scripts.reproduce_sketch_rnn's workdirs join the picker.
    for name in ("sheep_google", "sheep_finetuned", "unfinished"):
        (models / name / "export").mkdir(parents=True)
    for name in ("sheep_google", "sheep_finetuned"):
        (models / name / "export" / "saved_model.pb").write_bytes(b"")
    got = serve.find_models(None, None, tmp_path, models)
    assert got == ([models / "sheep_finetuned" / "export", models / "sheep_google" / "export"],
                   tmp_path / "wae_style" / "export")
    with pytest.raises(DataError, match="reproduce_sketch_rnn"):
        serve.find_models(None, None, tmp_path / "none", tmp_path / "none")
    # A WAE trained into models/ replaces the demo's; a scorer is no picker entry.
    for name, kind in (("my_wae", "wae_style"), ("scorer", "alexnet"), ("z_wae", "wae_style")):
        (models / name / "export").mkdir(parents=True)
        (models / name / "export" / "saved_model.pb").write_bytes(b"")
        (models / name / "export" / "metadata.json").write_text(json.dumps({"model": kind}))
    capsys.readouterr()
    got = serve.find_models(None, None, tmp_path, models)
    assert got == ([models / "sheep_finetuned" / "export", models / "sheep_google" / "export"],
                   models / "my_wae" / "export")
    assert "serving " + str(models / "my_wae") in capsys.readouterr().out
    assert serve.expand_sketch_models([str(models)]) == [models / "sheep_finetuned",
                                                         models / "sheep_google"]
    out = capsys.readouterr().out
    assert "my_wae is a 'wae_style' model" in out and "scorer is a 'alexnet' model" in out
    assert serve.export_kind(models / "my_wae") == "wae_style"
    assert serve.export_kind(models / "sheep_google") is None
    assert serve.is_loopback("127.0.0.1") and serve.is_loopback("::1")
    assert not serve.is_loopback("0.0.0.0")


def test_several_sketch_models_and_the_picker(tmp_path, sketch_export):
    # A folder of workdirs stands for their exports, sorted by name.
    for name in ("b_run", "a_run"):
        (tmp_path / name / "export").mkdir(parents=True)
        (tmp_path / name / "export" / "saved_model.pb").write_bytes(b"")
    (tmp_path / "notes").mkdir()
    assert serve.expand_sketch_models([str(tmp_path), sketch_export]) == [
        tmp_path / "a_run", tmp_path / "b_run", pathlib.Path(sketch_export)]
    with pytest.raises(DataError, match="folder of such workdirs"):
        serve.expand_sketch_models([str(tmp_path / "notes")])
    model = SketchModel(sketch_export)
    client = server.create_app({"sheep": model, "cat": model}).test_client()
    health = client.get("/api/health").get_json()
    assert [m["name"] for m in health["models"]["sketches"]] == ["sheep", "cat"]
    assert health["models"]["sketch"]["name"] == "sheep"
    resp = client.post("/api/sample", json={"model": "cat", "n": 2, "seed": 1, "max_len": 20})
    assert resp.status_code == 200 and len(resp.get_json()["samples"]) == 2
    assert_error(client.post("/api/sample", json={"model": "dog"}), 400)
    assert_error(client.post("/api/complete", json={"model": 3, "strokes": DRAWING}), 400)
    # Names come from the class (one class) or the run folder, made unique.
    names = list(server.load_sketch_models([model, model]))
    assert len(names) == 2 and names[1] == names[0] + "-2"


def test_bad_model_paths_are_refused(tmp_path, sketch_export):
    with pytest.raises(DataError, match="not a SavedModel"):
        SketchModel(tmp_path)
    with pytest.raises(DataError, match="expected 'wae_style'"):
        StyleModel(sketch_export)


# ----------------------------------------------------------------------------- load benchmark


def test_serve_load_benchmark_reports_latency(app):
    from werkzeug.serving import make_server

    from benchmarks import serve_load

    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        out = serve_load.main(["--url", f"http://127.0.0.1:{httpd.server_port}/", "--clients",
                               "1,3", "--duration", "1", "--warmup", "1"])
    finally:
        httpd.shutdown()
    assert [r["clients"] for r in out] == [1, 3]
    for r in out:
        assert r["errors"] == 0 and r["ok"] == r["requests"] > 0
        assert 0 < r["p50_ms"] <= r["p99_ms"] <= r["max_ms"]
    for bad in (["--url", "http://10.1.2.3:8000/"], ["--url", "https://localhost/"],
                ["--clients", "0"], ["--duration", "9999"]):
        with pytest.raises(SystemExit):
            serve_load.main(bad)
