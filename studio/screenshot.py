"""A reproducible screenshot of the studio: `scripts.serve` in a subprocess, Chromium driven by
Playwright through the page as a person would use it, and a full-page PNG.

The real-browser test shares the helpers: `ensure_chromium`, `serve_process` and `draw_stroke`.
"""

import contextlib
import dataclasses
import json
import math
import os
import pathlib
import selectors
import shutil
import subprocess
import sys
import tempfile
import time

from common import exports, files
from common.errors import DataError
from common.errors import SketchStyleError

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"  # Where Debian's chromium package installs it.
APT_TIMEOUT_S = 900
START_TIMEOUT_S = 180
STEP_TIMEOUT_S = 180  # One completion, interpolation or transfer on a busy CPU.
VIEWPORT = {"width": 1300, "height": 1000}
PAD_SIZE = 400  # The main canvas's width in canvas pixels; drawings are given in this space.
SLIDER_STEP = 0.05  # The temperature and strength sliders' step.
DISCRETE = ("paper", "web", "1")  # The page's "Pen & mixture" choices (option values).
COMPLETE_TRIES = 6


class ScreenshotError(SketchStyleError, RuntimeError):
    """The screenshot could not be taken: no browser, a page error, an empty completion."""


class ServerStartError(ScreenshotError):
    """`scripts.serve` exited or printed no URL in time; `log_tail` holds its last stderr."""

    def __init__(self, message, log_tail=""):
        super().__init__(message)
        self.log_tail = log_tail


# ----------------------------------------------------------------------------- drawings


def _ellipse(cx, cy, rx, ry, start=0.0, end=2 * math.pi, n=40):
    return [(round(cx + rx * math.cos(start + (end - start) * i / n), 1),
             round(cy + ry * math.sin(start + (end - start) * i / n), 1)) for i in range(n + 1)]


def _cloud(cx, cy, rx, ry, bumps, depth, n=120):
    """A woolly outline: an ellipse whose radius bulges `bumps` times, drawn from its left end."""
    pts = []
    for i in range(n + 1):
        t = math.pi + 2 * math.pi * i / n
        r = 1 + depth * abs(math.sin(bumps * t / 2))
        pts.append((round(cx + rx * r * math.cos(t), 1), round(cy + ry * r * math.sin(t), 1)))
    return pts


# A sheep as QuickDraw's players start one: the woolly body, then the head on the right and an
# eye; the legs are left to the model. Strokes of (x, y) points in a 400 x 400 canvas.
SHEEP = (
    _cloud(190, 190, 110, 68, bumps=14, depth=0.12),
    _ellipse(318, 150, 30, 24, start=0.6 * math.pi, end=2.6 * math.pi),
    _ellipse(326, 144, 3, 3, n=8),
)
# Drawing B of an interpolation (conditional models only): a rounder sheep facing left.
SHEEP_B = (
    _cloud(220, 200, 90, 80, bumps=10, depth=0.15),
    _ellipse(95, 170, 32, 26, start=-0.4 * math.pi, end=1.6 * math.pi),
)


# ----------------------------------------------------------------------------- helpers


def ensure_chromium(path=CHROMIUM, timeout=APT_TIMEOUT_S):
    """Installs Debian's chromium with apt-get when `path` is missing; returns seconds spent.

    Raises:
        RuntimeError: apt-get is missing, fails or times out, or the binary is still absent.
    """
    if os.access(path, os.X_OK):
        return 0.0
    if shutil.which("apt-get") is None:
        raise RuntimeError(f"{path} is missing and apt-get is not available to install chromium")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    start = time.monotonic()
    lock = ["-o", "DPkg::Lock::Timeout=300"]  # Wait for another apt run instead of failing.
    for cmd in (["apt-get", "update", "-q"] + lock,
                ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + lock + ["chromium"]):
        left = timeout - (time.monotonic() - start)
        try:
            proc = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=max(left, 1), check=False)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{' '.join(cmd)} timed out after {timeout} s") from None
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"apt-get installed chromium but {path} is still missing")
    return time.monotonic() - start


@contextlib.contextmanager
def serve_process(sketch_models, style_model, log_path, python_flags=(),
                  timeout=START_TIMEOUT_S):
    """`python -m scripts.serve` on a free loopback port, stopped on exit.

    Args:
        sketch_models: Sketch RNN export folders or workdirs (one --sketch_model each).
        style_model: a WAE export folder or workdir, or None.
        log_path: the server's stderr goes there.
        python_flags: interpreter flags before -m (e.g. ("-X", "importtime")).
        timeout: seconds to wait for the URL it prints.

    Yields:
        (url ending in "/", the subprocess.Popen).

    Raises:
        ServerStartError: it exited or printed no URL within `timeout`.
    """
    cmd = [sys.executable, *python_flags, "-m", "scripts.serve"]
    cmd += [f"--sketch_model={p}" for p in sketch_models]
    if style_model is not None:
        cmd.append(f"--style_model={style_model}")
    cmd.append("--port=0")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=log,
                                stdin=subprocess.DEVNULL, text=True)
    try:
        yield _wait_for_url(proc, log_path, timeout), proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _wait_for_url(proc, log_path, timeout):
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sel.select(timeout=1.0):
                line = proc.stdout.readline()
                if not line:
                    break
                if "http://" in line:
                    return "http://" + line.split("http://", 1)[1].split()[0]
            if proc.poll() is not None:
                break
    finally:
        sel.close()
    try:  # An exit closes its stdout before the process is gone; a timeout waits a little more.
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        code = None
    tail = pathlib.Path(log_path).read_text()[-3000:]
    lines = [ln.strip() for ln in tail.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith(("error:", "Error", "FATAL"))]
    last = (errors or lines or ["no output"])[-1]
    state = f"exited with code {code}" if code is not None else f"printed no URL in {timeout} s"
    raise ServerStartError(f"scripts.serve {state}: {last}", log_tail=tail)


def draw_stroke(page, selector, points):
    """One stroke with the mouse on the canvas `selector`: points in CSS pixels from its corner."""
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(box["x"] + x, box["y"] + y, steps=2)
    page.mouse.up()


def draw_drawing(page, selector, strokes, size=PAD_SIZE):
    """Draws strokes given in a size x size canvas, scaled to the canvas's shown width."""
    k = page.locator(selector).bounding_box()["width"] / size
    for stroke in strokes:
        draw_stroke(page, selector, [(x * k, y * k) for x, y in stroke])


# ----------------------------------------------------------------------------- the screenshot


@dataclasses.dataclass(frozen=True)
class Shot:
    """What take_screenshot did.

    Attributes:
        path: the PNG written.
        width, height: its size in pixels.
        seconds: wall time, server start to PNG.
        seed: the seed of the completion shown (the server's reply).
        model: the Sketch RNN's name in the page's picker.
        interpolated: whether the model could interpolate (a conditional one) and did.
        server_pid: the server's process id (it has exited when this returns).
    """

    path: str
    width: int
    height: int
    seconds: float
    seed: int
    model: str
    interpolated: bool
    server_pid: int


def _image_choice(value, kind):
    """A preset index (0-3, int or digits) or an image file to upload -> int or absolute Path."""
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        index = int(value)
        if not 0 <= index <= 3:
            raise DataError(f"{kind}: preset {index} does not exist (the page has presets 0-3)")
        return index
    path = pathlib.Path(value)
    if not path.is_file():
        raise DataError(f"{kind} image {value}: no such file")
    return path.resolve()


def _model_path(value, kind):
    try:
        exports.resolve_export(value)
    except DataError as e:
        raise DataError(f"{kind} model {e}") from None
    return pathlib.Path(value).resolve()


def _slider(value, name, lo):
    value = float(value)
    steps = value / SLIDER_STEP
    if not lo <= value <= 1.0 or abs(steps - round(steps)) > 1e-6:
        raise DataError(f"{name}={value:g}: the page's slider takes multiples of {SLIDER_STEP} "
                        f"in [{lo:g}, 1]")
    return f"{round(steps) * SLIDER_STEP:.2f}"


def check_inputs(sketch_models, style_model, content, style, temperature, strength, discrete,
                 alternatives):
    """Validates everything before a browser or server starts; returns the normalised values.

    Raises:
        DataError: one line naming the bad value.
    """
    if isinstance(sketch_models, (str, os.PathLike)):
        sketch_models = [sketch_models]
    if not sketch_models:
        raise DataError("give at least one Sketch RNN model (an export folder or workdir)")
    if style_model is None:
        raise DataError("give a style-transfer model (a WAE export folder or workdir)")
    sketches = [_model_path(p, "Sketch RNN") for p in sketch_models]
    style_path = _model_path(style_model, "style-transfer")
    if discrete not in DISCRETE:
        raise DataError(f"discrete temperature {discrete!r}: the page offers {list(DISCRETE)}")
    if not 1 <= int(alternatives) <= 16:
        raise DataError(f"alternatives={alternatives}: the page takes 1 to 16")
    return (sketches, style_path, _image_choice(content, "content"), _image_choice(style, "style"),
            _slider(temperature, "temperature", SLIDER_STEP), _slider(strength, "strength", 0.0))


def _seed_route(seed_box):
    """A Playwright route handler that adds seed_box[0] to each /api/complete request."""
    def handle(route):
        body = json.loads(route.request.post_data or "{}")
        body["seed"] = seed_box[0]
        route.continue_(post_data=json.dumps(body))
    return handle


def take_screenshot(out, sketch_models, style_model, *, drawing=SHEEP, drawing_b=SHEEP_B,
                    temperature=0.4, discrete="web", alternatives=4, seed=None, keep=False,
                    steps=8, content=3, style=1, strength=1.0, chromium=CHROMIUM,
                    viewport=None, log=print):
    """Serves the models, uses the page in Chromium and saves a full-page screenshot.

    In the page: draws `drawing` on the main pad, sets the temperature, pen & mixture choice and
    number of alternatives, presses "Finish my drawing" and waits for the animation of the
    first non-empty alternative (the one the page keeps on the pad, in the model's red); with
    `keep` it then presses "Keep it", which turns those strokes into the drawing's own ink.
    With a conditional model it also interpolates from the partial drawing (A, "Use main
    drawing") to `drawing_b` (B); an unconditional model has no encoder, so the page greys
    out Interpolate and its pads stay empty. Last it stylises `content` with `style` (a preset
    index 0-3 or an image file uploaded through the page) at `strength`, waits for the image
    and takes the screenshot.

    Args:
        out: the PNG to write (atomically: a temp file, then os.replace).
        sketch_models: Sketch RNN export folders or workdirs; the first is the page's default.
        style_model: the WAE export folder or workdir.
        drawing, drawing_b: strokes of (x, y) points in a 400 x 400 canvas.
        temperature: the temperature slider, a multiple of 0.05 in [0.05, 1].
        discrete: "paper" or "web", the page's pen & mixture temperature.
        alternatives: completions asked for (1-16); the page shows the first non-empty one.
        seed: completion seed added to the page's request (the page has no seed control), so
            the same command gives the same drawing; None lets the server pick one. If every
            alternative comes back empty it is tried again with seed + 1 (up to 6 times).
        keep: press "Keep it" after the completion (the picture then shows the model's
            strokes in red only in the thumbnails).
        steps: interpolation steps.
        content, style: preset index or image path.
        strength: the style strength slider, a multiple of 0.05 in [0, 1].
        chromium: the Chromium binary.
        viewport: {"width", "height"} of the browser window (VIEWPORT by default).
        log: called with one progress line at a time (None: silent).

    Returns:
        Shot.

    Raises:
        DataError: a missing model folder or image, or a value the page cannot take.
        ScreenshotError: no Chromium or Playwright, a server that does not start, a failed
            request or a page error (one line each).
    """
    start = time.monotonic()
    say = log or (lambda line: None)
    sketches, style_path, content, style, tau, strength = check_inputs(
        sketch_models, style_model, content, style, temperature, strength, discrete, alternatives)
    if not os.access(chromium, os.X_OK):
        raise ScreenshotError(f"no Chromium at {chromium}: install Debian's chromium "
                              "(apt-get install chromium) or name another binary")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ScreenshotError("Playwright is not installed: pip install -e '.[test]'") from None
    with tempfile.TemporaryDirectory(prefix="studio_screenshot_") as tmp:
        log_path = pathlib.Path(tmp) / "serve_stderr.txt"
        say(f"starting scripts.serve with {len(sketches)} Sketch RNN model(s) and the WAE")
        with serve_process(sketches, style_path, log_path) as (url, proc):
            say(f"serving on {url} ({time.monotonic() - start:.0f} s); driving Chromium")
            try:
                with sync_playwright() as pw:
                    browser = pw.chromium.launch(executable_path=str(chromium), headless=True)
                    try:
                        page = browser.new_page(viewport=dict(viewport or VIEWPORT))
                        shot = _use_page(page, url, say, drawing, drawing_b, tau, discrete,
                                         alternatives, seed, keep, steps, content, style,
                                         strength)
                        png = page.screenshot(full_page=True)
                    finally:
                        browser.close()
            except PlaywrightError as e:
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ScreenshotError(f"the browser failed: {first}") from None
            pid = proc.pid
    files.atomic_write_bytes(out, png)
    width = int.from_bytes(png[16:20], "big")  # The PNG header's IHDR.
    height = int.from_bytes(png[20:24], "big")
    return Shot(path=str(out), width=width, height=height, seconds=time.monotonic() - start,
                server_pid=pid, **shot)


def _use_page(page, url, say, drawing, drawing_b, tau, discrete, alternatives, seed, keep,
              steps, content, style, strength):
    """The clicks of take_screenshot; returns seed, model and interpolated."""
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    timeout_ms = STEP_TIMEOUT_S * 1000

    def check(what):
        if errors:
            first = (errors[0].strip().splitlines() or ["an error"])[0]
            raise ScreenshotError(f"{what}: the page reported {first}")
        status = page.inner_text("#status")
        if page.get_attribute("#status", "class") == "error":
            raise ScreenshotError(f"{what}: the page says {status}")

    def press(button, route, what):
        with page.expect_response(f"**/api/{route}", timeout=timeout_ms) as info:
            page.click(button)
        if info.value.status != 200:
            body = " ".join(info.value.text()[:300].split())
            raise ScreenshotError(f"{what}: HTTP {info.value.status} {body}")
        return info.value

    page.goto(url)
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    check("loading the page")
    health = page.inner_text("#health")
    if "not loaded" in health:
        raise ScreenshotError(f"the page says {health}")
    model = page.input_value("#model")
    conditional = not page.is_disabled("#interpolate")

    # Draw, and let Sketch RNN finish it.
    draw_drawing(page, "#pad", drawing)
    page.fill("#tau", tau)
    page.select_option("#discrete", discrete)
    page.fill("#n", str(int(alternatives)))
    if abs(float(page.input_value("#tau")) - float(tau)) > 1e-6:  # It rounds to its step.
        raise ScreenshotError(f"the temperature slider shows {page.input_value('#tau')}, not {tau}")
    if conditional:
        page.click("#copy-a")  # A: the drawing before the model finishes it.
        draw_drawing(page, "#pad-b", drawing_b)
    seed_box = [seed]
    if seed is not None:
        page.route("**/api/complete", _seed_route(seed_box))
    for attempt in range(COMPLETE_TRIES):
        page.evaluate("() => { delete document.getElementById('pad').dataset.anim; }")
        reply = press("#complete", "complete", "Finish my drawing").json()
        page.wait_for_selector("#pad[data-anim='done'], #pad[data-anim='empty']",
                               timeout=timeout_ms)
        off_pad = "off the pad" in page.inner_text("#status")
        if page.get_attribute("#pad", "data-anim") == "done" and not off_pad:
            break
        say(f"seed {reply['seed']}: every alternative was "
            f"{'off the pad' if off_pad else 'empty'}; again")
        if seed_box[0] is not None:
            seed_box[0] += 1
    else:
        raise ScreenshotError(f"{COMPLETE_TRIES} presses of Finish my drawing gave only empty or "
                              "off-pad completions: raise the temperature or try another seed")
    check("Finish my drawing")
    points = [len(c["strokes"]) for c in reply["completions"]]
    say(f"completion seed {reply['seed']}: {len(reply['prefix'])} points after RDP, "
        f"alternatives of {points} points")
    if keep:
        page.click("#keep")

    # Walk between two drawings (a conditional model only).
    if conditional:
        page.fill("#steps", str(int(steps)))
        press("#interpolate", "interpolate", "Interpolate")
        page.wait_for_selector(f"#strip canvas:nth-child({int(steps)})", timeout=timeout_ms)
        check("Interpolate")
        say(f"interpolated in {int(steps)} steps")
    else:
        say("unconditional model: the page greys out Interpolate")

    # Style transfer.
    for kind, choice in (("content", content), ("style", style)):
        if isinstance(choice, int):
            page.wait_for_selector(f"#{kind}-presets img", timeout=timeout_ms)
            page.click(f"#{kind}-presets img >> nth={choice}")
        else:
            page.set_input_files(f"#{kind}-file", str(choice))
    page.fill("#strength", strength)
    response = press("#stylize", "stylize", "Stylise")
    if response.headers.get("content-type") != "image/png":
        raise ScreenshotError(f"Stylise: got {response.headers.get('content-type')}, not a PNG")
    page.wait_for_selector("#styled[data-loaded='1']", timeout=timeout_ms)
    check("Stylise")
    say("stylised")
    page.mouse.move(0, 0)  # No hover state in the picture.
    return {"seed": int(reply["seed"]), "model": model, "interpolated": conditional}
