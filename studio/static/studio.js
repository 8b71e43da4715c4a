// Sketch & style studio: drawing pads, completion animation, interpolation and style transfer (plain JS, no dependencies).
"use strict";

const $ = (id) => document.getElementById(id);
const INK = "#222", MODEL_INK = "#d0342c";
const studio = (window.studio = { last: {} });

function setStatus(msg, isError) {
  $("status").textContent = msg;
  $("status").className = isError ? "error" : "";
}

// POST JSON (or FormData) and return the parsed reply; errors become exceptions with the API's message.
async function api(path, body) {
  const init = { method: "POST" };
  if (body instanceof FormData) init.body = body;
  else { init.body = JSON.stringify(body); init.headers = { "Content-Type": "application/json" }; }
  const resp = await fetch(path, init);
  const type = resp.headers.get("Content-Type") || "";
  if (!resp.ok) {
    const err = type.includes("json") ? (await resp.json()).error : resp.statusText;
    throw new Error(`${resp.status}: ${err}`);
  }
  return type.includes("json") ? resp.json() : resp.blob();
}

// A canvas to draw on with mouse, touch or pen (pointer events); strokes are lists of [x, y] canvas pixels.
class Pad {
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.onChange = onChange || (() => {});
    this.strokes = [];
    this.current = null;
    this.overlay = null;  // A function drawing the model's strokes on top.
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    this.redraw();
  }
  pos(e) {
    const r = this.canvas.getBoundingClientRect();
    return [(e.clientX - r.left) * this.canvas.width / r.width, (e.clientY - r.top) * this.canvas.height / r.height];
  }
  down(e) {
    if (e.pointerType === "mouse" && e.button !== 0) return;
    try { this.canvas.setPointerCapture(e.pointerId); } catch (err) { /* Not an active pointer. */ }
    this.current = [this.pos(e)];
    this.strokes.push(this.current);
    this.overlay = null;
    this.redraw();
  }
  move(e) {
    if (!this.current) return;
    const evs = (e.getCoalescedEvents && e.getCoalescedEvents()) || [];
    for (const ev of evs.length ? evs : [e]) this.current.push(this.pos(ev));
    this.redraw();
  }
  up() {
    if (!this.current) return;
    this.current = null;
    this.onChange();
  }
  undo() { this.strokes.pop(); this.overlay = null; this.redraw(); this.onChange(); }
  clear() { this.strokes = []; this.overlay = null; this.redraw(); this.onChange(); }
  setStrokes(strokes) { this.strokes = strokes.map((s) => s.map((p) => p.slice())); this.overlay = null; this.redraw(); }
  pointCount() { return this.strokes.reduce((a, s) => a + s.length, 0); }
  redraw() {
    const { ctx, canvas } = this;
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = INK;
    ctx.lineWidth = canvas.width > 300 ? 3 : 2;
    ctx.lineCap = ctx.lineJoin = "round";
    for (const s of this.strokes) {
      ctx.beginPath();
      ctx.moveTo(s[0][0], s[0][1]);
      for (const [x, y] of s.length > 1 ? s.slice(1) : [[s[0][0] + 0.1, s[0][1]]]) ctx.lineTo(x, y);
      ctx.stroke();
    }
    if (this.overlay) this.overlay(ctx);
  }
  // Stroke-3 in canvas pixels: the first row is the first point's position, lift = 1 ends a stroke.
  toStroke3() {
    const rows = [];
    let px = 0, py = 0;
    for (const s of this.strokes) {
      s.forEach(([x, y], i) => {
        rows.push([+(x - px).toFixed(2), +(y - py).toFixed(2), i === s.length - 1 ? 1 : 0]);
        px = x; py = y;
      });
    }
    return rows;
  }
}

// Absolute points [x, y, lift] of a stroke-3 list drawn from (x0, y0) at k pixels per unit.
function points(s3, x0, y0, k) {
  let x = x0, y = y0;
  return s3.map(([dx, dy, lift]) => [(x += dx * k), (y += dy * k), lift]);
}

// Draws points[from..upto) with the pen lifted after rows whose lift is 1.
function drawPoints(ctx, pts, color, width, from = 0, upto = pts.length) {
  ctx.strokeStyle = color;
  ctx.lineWidth = width;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  let lifted = true;
  for (let i = from; i < upto; i++) {
    const [x, y, lift] = pts[i];
    if (lifted) { ctx.moveTo(x, y); ctx.lineTo(x + 0.1, y); } else ctx.lineTo(x, y);
    lifted = lift === 1;
  }
  ctx.stroke();
}

// Fits a stroke-3 sketch (first row absolute) into a w x h box; returns its points there.
function fitPoints(s3, w, h, pad = 8) {
  const raw = points(s3, 0, 0, 1);
  if (!raw.length) return [];
  const xs = raw.map((p) => p[0]), ys = raw.map((p) => p[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const k = Math.min((w - 2 * pad) / Math.max(x1 - x0, 1), (h - 2 * pad) / Math.max(y1 - y0, 1));
  const ox = (w - (x1 - x0) * k) / 2 - x0 * k, oy = (h - (y1 - y0) * k) / 2 - y0 * k;
  return raw.map(([x, y, l]) => [ox + x * k, oy + y * k, l]);
}

// A thumbnail canvas of a sketch; rows from `split` on are drawn in the model's colour.
function thumb(s3, split = 0, size = 96) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const ctx = c.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, size, size);
  const pts = fitPoints(s3, size, size);
  if (split > 0) drawPoints(ctx, pts, INK, 1.5, 0, Math.min(split, pts.length));
  if (pts.length > split) drawPoints(ctx, pts, MODEL_INK, 1.5, split);
  return c;
}

// Animates the model's strokes on a pad, one point per frame; marks the canvas when done.
function animate(pad, origin, s3) {
  const pts = points(s3, origin[0], origin[1], 1);
  studio.shown = pts;
  $("keep").disabled = pad !== main || !pts.length;
  let upto = 0;
  pad.canvas.dataset.anim = "running";
  const token = (studio.anim = {});
  pad.overlay = (ctx) => drawPoints(ctx, pts, MODEL_INK, 3, 0, upto);
  const step = () => {
    if (studio.anim !== token) return;
    upto = Math.min(upto + 1, pts.length);
    pad.redraw();
    if (upto < pts.length) requestAnimationFrame(step);
    else pad.canvas.dataset.anim = "done";
  };
  requestAnimationFrame(step);
}

function selectIn(container, el) {
  for (const c of container.children) c.classList.toggle("selected", c === el);
}

const main = new Pad($("pad"), () => {
  $("points").textContent = `${main.pointCount()} points drawn`;
  $("keep").disabled = true;
});
const padA = new Pad($("pad-a")), padB = new Pad($("pad-b"));
$("undo").onclick = () => main.undo();
// Keep the shown completion: its strokes join the drawing, so it can be finished again.
$("keep").onclick = () => {
  let stroke = [];
  for (const [x, y, lift] of studio.shown || []) {
    stroke.push([x, y]);
    if (lift === 1) { main.strokes.push(stroke); stroke = []; }
  }
  if (stroke.length) main.strokes.push(stroke);
  main.overlay = null;
  main.redraw();
  main.onChange();
  $("keep").disabled = true;
};
$("clear").onclick = () => main.clear();
$("clear-a").onclick = () => padA.clear();
$("clear-b").onclick = () => padB.clear();
const copyScaled = (dst) => { const k = dst.canvas.width / main.canvas.width; dst.setStrokes(main.strokes.map((s) => s.map(([x, y]) => [x * k, y * k]))); };
$("copy-a").onclick = () => copyScaled(padA);
$("copy-b").onclick = () => copyScaled(padB);
for (const [input, out] of [["tau", "tau-out"], ["strength", "strength-out"]]) {
  $(input).oninput = () => { $(out).textContent = Number($(input).value).toFixed(2); };
}

// The Max points box as a number within its bounds (an empty or odd entry: the default).
function maxLen() {
  const el = $("max-len"), v = Math.round(Number(el.value));
  if (!Number.isFinite(v) || v < 1) return Number(el.defaultValue);
  return Math.min(v, Number(el.max));
}

async function run(button, label, fn) {
  button.disabled = true;
  setStatus(label + "\u2026");
  try { await fn(); } catch (e) { setStatus(e.message, true); } finally { button.disabled = false; }
}

$("complete").onclick = () => run($("complete"), "Finishing your drawing", async () => {
  if (!main.strokes.length) throw new Error("Draw something first.");
  const reply = await api("/api/complete", { model: $("model").value, strokes: main.toStroke3(), max_len: maxLen(), temperature: Number($("tau").value), discrete_temperature: $("discrete").value, n: Number($("n").value) });
  studio.last.complete = reply;
  const alts = $("alts");
  alts.replaceChildren();
  reply.completions.forEach((c, i) => {
    const t = thumb(reply.prefix.concat(c.strokes), reply.prefix.length);
    t.title = `alternative ${i + 1}: ${c.strokes.length} points`;
    t.onclick = () => { selectIn(alts, t); animate(main, reply.origin, c.canvas); };
    alts.appendChild(t);
  });
  // Show first the alternative with ink on the pad (a completion can run off its edge).
  const onPad = (c) => points(c.canvas, reply.origin[0], reply.origin[1], 1).some(
    ([x, y]) => x >= 0 && y >= 0 && x < main.canvas.width && y < main.canvas.height);
  let first = reply.completions.findIndex(onPad);
  const offPad = first < 0;
  if (offPad) first = reply.completions.findIndex((c) => c.strokes.length > 0);
  if (first < 0) {
    main.canvas.dataset.anim = "empty";
    setStatus("The model thinks your drawing is finished: try again or raise the temperature.");
    return;
  }
  selectIn(alts, alts.children[first]);
  animate(main, reply.origin, reply.completions[first].canvas);
  if (offPad) {
    setStatus("Every alternative runs off the pad: try again, lower the temperature or draw nearer the centre.");
    return;
  }
  setStatus(`${reply.completions.length} alternatives (your ${main.pointCount()} points became ${reply.prefix.length} after RDP; seed ${reply.seed}). Click one to replay it.`);
});

$("sample").onclick = () => run($("sample"), "Sampling", async () => {
  const reply = await api("/api/sample", { model: $("model").value, max_len: maxLen(), temperature: Number($("tau").value), discrete_temperature: $("discrete").value, n: Number($("n").value) });
  studio.last.sample = reply;
  $("alts").replaceChildren(...reply.samples.map((s) => thumb(s)));
  setStatus(`${reply.samples.length} new drawings from the model (seed ${reply.seed}).`);
});

$("interpolate").onclick = () => run($("interpolate"), "Interpolating", async () => {
  if (!padA.strokes.length || !padB.strokes.length) throw new Error("Draw both A and B first.");
  const reply = await api("/api/interpolate", { model: $("model").value, max_len: maxLen(), a: padA.toStroke3(), b: padB.toStroke3(), steps: Number($("steps").value), method: $("method").value, discrete_temperature: $("discrete").value });
  studio.last.interpolate = reply;
  $("strip").replaceChildren(...reply.frames.map((f) => { const t = thumb(f.strokes); t.title = `t = ${f.t.toFixed(2)}`; return t; }));
  setStatus(`${reply.frames.length} steps from A to B (${reply.method}).`);
});

// Style transfer: each side is a bundled preset or an uploaded file.
const choice = { content: { preset: 0 }, style: { preset: 0 } };
async function loadPresets() {
  const presets = await (await fetch("/api/presets")).json();
  for (const kind of ["content", "style"]) {
    const box = $(`${kind}-presets`);
    box.replaceChildren(...presets[kind].map((p) => {
      const img = document.createElement("img");
      img.src = p.url;
      img.alt = `${kind} preset ${p.index}`;
      img.onclick = () => { choice[kind] = { preset: p.index }; $(`${kind}-file`).value = ""; selectIn(box, img); };
      return img;
    }));
    selectIn(box, box.children[choice[kind].preset]);
    $(`${kind}-file`).onchange = (e) => {
      if (e.target.files.length) { choice[kind] = { file: e.target.files[0] }; selectIn(box, null); }
    };
  }
}

$("stylize").onclick = () => run($("stylize"), "Stylising", async () => {
  const form = new FormData();
  for (const kind of ["content", "style"]) {
    if (choice[kind].file) form.append(kind, choice[kind].file);
    else form.append(`${kind}_preset`, String(choice[kind].preset));
  }
  form.append("strength", $("strength").value);
  const blob = await api("/api/stylize", form);
  const img = $("styled");
  if (img.src) URL.revokeObjectURL(img.src);
  img.onload = () => { img.dataset.loaded = String(Number(img.dataset.loaded || 0) + 1); };
  img.src = URL.createObjectURL(blob);
  img.hidden = false;
  setStatus("Stylised.");
});

// The model picker: one entry per loaded Sketch RNN ("sheep", "bicycle", ...).
let sketchModels = [];
function pickModel() {
  const sk = sketchModels.find((m) => m.name === $("model").value);
  for (const id of ["complete", "sample"]) $(id).disabled = !sk;
  $("interpolate").disabled = !(sk && sk.conditional);
  $("model-info").textContent = sk ? `trained on up to ${sk.max_seq_len} points${sk.conditional ? "" : " (unconditional: no interpolation)"}` : "";
  if (sk) {  // Max points: the training length by default, up to the server's limit.
    $("max-len").max = sk.max_len;
    $("max-len").defaultValue = $("max-len").value = sk.max_seq_len;
  }
}
$("model").onchange = pickModel;

async function checkHealth() {
  const h = await (await fetch("/api/health")).json();
  const st = h.models.style;
  sketchModels = h.models.sketches;
  $("model").replaceChildren(...sketchModels.map((m) => {
    const opt = document.createElement("option");
    opt.value = m.name;
    opt.textContent = m.name;
    return opt;
  }));
  $("model").disabled = sketchModels.length < 2;
  pickModel();
  $("stylize").disabled = !st;
  $("health").textContent = [
    sketchModels.length ? `Sketch RNN: ${sketchModels.length} model${sketchModels.length > 1 ? "s" : ""} (${sketchModels.map((m) => m.name).join(", ")})` : "Sketch RNN: not loaded",
    st ? `style transfer: ${st.image_size}\u00d7${st.image_size}` : "style transfer: not loaded"].join(" \u00b7 ");
  if (st) await loadPresets();
  document.body.dataset.ready = "1";
}
checkHealth().catch((e) => setStatus(`Cannot reach the server: ${e.message}`, true));
