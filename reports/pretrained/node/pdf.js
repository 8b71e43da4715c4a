// Runs a `.gen.json` model in @magenta/sketch 0.2.0 and prints getPDF() after every step, as JSON.
//
// Usage: node pdf.js INSTALL_DIR < request.json > result.json
//   INSTALL_DIR holds node_modules from `npm ci` with this folder's package-lock.json.
//   request: {"model": "/path/x.gen.json", "strokes": [[dx, dy, p1, p2, p3], ...],
//             "temperature": 1.0, "softmax_temperature": 1.0, "uniforms": [...]}
//   strokes are stroke-5 rows in the model's normalised units, without the initial S0.
//   softmax_temperature null or absent: getPDF's own default, 0.5 + 0.5 * temperature.
//   uniforms (optional): Math.random() returns these in turn (a fixed random stream), and
//   after each getPDF() the script also calls model.sample(pdf); the strokes are "samples".
//   result: {"pen": [[3]...], "pi", "mu_x", "mu_y", "sigma_x", "sigma_y", "corr": [[M]...],
//            "scale_factor", "pixel_factor", "default_pixel_factor", "info_scale_factor",
//            "backend"}
//   Row t is the prediction of strokes[t]: the state after S0 = [0, 0, 1, 0, 0] and
//   strokes[0..t-1], so there are N + 1 rows.
//
// Units: update() divides dx, dy by model.scaleFactor = info.scale_factor / pixelFactor
// (pixelFactor defaults to 2, for p5.js canvases). We set the pixel factor to
// info.scale_factor itself, so scaleFactor is exactly 1 (x / x == 1 in IEEE arithmetic) and the
// division leaves the normalised offsets untouched. Multiplying by the scale factor first
// and letting update() divide would round twice.
'use strict';

const fs = require('fs');
const path = require('path');

// tfjs prints a banner through console.*; keep stdout for the JSON result only.
console.log = console.info = console.warn = console.error;

function fail(message) {
  process.stderr.write(`pdf.js: ${message}\n`);
  process.exit(2);
}

function positive(request, key) {
  const value = request[key];
  // getPDF() would silently replace a falsy softmax temperature by its default.
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    fail(`${key} must be a finite positive number, got ${JSON.stringify(value)}`);
  }
  return value;
}

async function main() {
  const installDir = process.argv[2];
  if (!installDir) fail('usage: node pdf.js INSTALL_DIR < request.json');
  const modules = path.join(path.resolve(installDir), 'node_modules');
  const tf = require(path.join(modules, '@tensorflow', 'tfjs-core'));
  const sketch = require(path.join(modules, '@magenta', 'sketch'));

  const request = JSON.parse(fs.readFileSync(0, 'utf8'));
  const temperature = positive(request, 'temperature');
  const softmaxTemperature = request.softmax_temperature == null ? undefined
    : positive(request, 'softmax_temperature');
  const uniforms = request.uniforms;
  if (uniforms != null) {
    if (!Array.isArray(uniforms) || !uniforms.every((u) => Number.isFinite(u) && u >= 0 && u < 1)) {
      fail('uniforms must be a list of numbers in [0, 1)');
    }
    let next = 0;
    Math.random = () => {
      if (next >= uniforms.length) fail(`the ${uniforms.length} uniforms ran out`);
      return uniforms[next++];
    };
  }
  const strokes = request.strokes;
  if (!Array.isArray(strokes) ||
      !strokes.every((s) => Array.isArray(s) && s.length === 5 && s.every(Number.isFinite))) {
    fail('strokes must be a list of [dx, dy, p1, p2, p3] rows of finite numbers');
  }
  // Load the JSON ourselves: initialize() would fetch() a URL, which needs a server.
  const [info, dims, blobs] = JSON.parse(fs.readFileSync(request.model, 'utf8'));

  await tf.setBackend('cpu');
  const model = new sketch.SketchRNN(request.model);
  model.instantiateFromJSON(info, dims, blobs);
  const defaultPixelFactor = model.pixelFactor;
  model.setPixelFactor(info.scale_factor);
  if (model.scaleFactor !== 1) fail(`scaleFactor is ${model.scaleFactor}, expected exactly 1`);

  const M = model.NMIXTURE;
  const keys = {pen: 'pen', pi: 'pi', mu_x: 'muX', mu_y: 'muY', sigma_x: 'sigmaX',
                sigma_y: 'sigmaY', corr: 'corr'};
  const result = {};
  for (const key of Object.keys(keys)) result[key] = [];
  if (uniforms != null) result.samples = [];
  let state = model.update(model.zeroInput(), model.zeroState());
  for (let t = 0; t <= strokes.length; t++) {
    const pdf = model.getPDF(state, temperature, softmaxTemperature);
    for (const [key, field] of Object.entries(keys)) {
      // 0.2.0 slices sigmaY as result.slice(4M, 15M): it also holds corr and pen. Keep M values.
      const values = Array.from(pdf[field]);
      result[key].push(key === 'pen' ? values : values.slice(0, M));
    }
    if (uniforms != null) result.samples.push(model.sample(pdf));
    if (t < strokes.length) state = model.update(strokes[t], state);
  }
  result.scale_factor = model.scaleFactor;
  result.pixel_factor = model.pixelFactor;
  result.default_pixel_factor = defaultPixelFactor;
  result.info_scale_factor = info.scale_factor;
  result.backend = tf.getBackend();
  model.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

main().catch((err) => fail(err && err.stack ? err.stack : String(err)));
