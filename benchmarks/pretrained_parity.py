"""Cross-runtime parity of imported `.gen.json` decoders: our SavedModel's mixture vs @magenta/sketch 0.2.0's getPDF under Node.js; one JSON line per model.

Along a fixed real drawing (the first drawing of the model's class in
quickdraw_lamnguyen_simplified, all its points, offsets divided by the drawing's own std so it
is in model units: reports.pretrained.magenta_js.first_drawing_stroke5), every step's pen, pi,
mu_x, mu_y, sigma_x, sigma_y and rho (magenta-js: corr) of the export's mixture
(SketchModel.mixture) is compared with getPDF() at temperature 1 after the same step in Node,
and both with the numpy reference decoder of the file. The figure is the max |difference| over
all steps and parameters. Needs node and npm: the first run does `npm ci` into a temp cache (see
reports/pretrained/magenta_js.py).

  .venv/bin/python -m benchmarks.pretrained_parity --workdirs=workdirs/pretrained/workdirs
  .venv/bin/python -m benchmarks.pretrained_parity --model=sheep   # imports into a temp folder
"""

import argparse
import json
import pathlib
import sys
import tempfile

if __package__ in (None, ""):  # Run as a file: the project's packages must be importable.
    sys.path[0] = str(pathlib.Path(__file__).resolve().parents[1])

SHARED = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"
PAIRS = (("pen", "pen"), ("pi", "pi"), ("mu_x", "mu_x"), ("mu_y", "mu_y"),
         ("sigma_x", "sigma_x"), ("sigma_y", "sigma_y"), ("rho", "corr"))


def export_mixture(model, strokes5):
    """The export's `mixture` along a stroke-5 drawing in model units: {ours: (N+1, .)}."""
    import numpy as np
    return model.mixture(np.column_stack([strokes5[:, :2] * model.scale_factor, strokes5[:, 3]]))


def max_diffs(a, b, a_keys, b_keys):
    """{a_key: max |a - b|} over matching parameters."""
    import numpy as np
    return {ka: float(np.max(np.abs(a[ka] - b[kb]))) for ka, kb in zip(a_keys, b_keys)}


def compare(name, model_file, drawing_file, workdir):
    """The parity record of one model (see the module docstring)."""
    import numpy as np

    from reports.pretrained import magenta_js
    from sketch_rnn.client import SketchModel
    from sketch_rnn import js_format

    gen = js_format.read_gen_json(model_file)
    strokes = magenta_js.first_drawing_stroke5(drawing_file)  # (N, 5) model units.
    js = magenta_js.run_pdf(model_file, strokes)
    ref = magenta_js.numpy_pdf(gen, strokes, 1.0, 1.0)
    ours = export_mixture(SketchModel(workdir), strokes)
    keys_ours, keys_js = [p[0] for p in PAIRS], [p[1] for p in PAIRS]
    vs_node = max_diffs(ours, js, keys_ours, keys_js)
    numpy_vs_node = max_diffs(ref, js, keys_js, keys_js)
    ours_vs_numpy = max_diffs(ours, ref, keys_ours, keys_js)
    return {"name": f"pretrained_parity_{name}", "unit": "max |difference|",
            "value": max(vs_node.values()), "per_parameter": vs_node,
            "numpy_vs_node": max(numpy_vs_node.values()),
            "export_vs_numpy": max(ours_vs_numpy.values()),
            "steps": int(len(strokes) + 1), "parameters_per_step": 3 + 6 * gen.num_mixture,
            "max_abs_value": {k: float(np.max(np.abs(js[kb]))) for k, kb in PAIRS},
            "drawing": f"{drawing_file}:0", "workdir": str(workdir), "node_backend": js["backend"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append",
                        help="model names (default: sheep, bicycle, key)")
    parser.add_argument("--models", default=str(SHARED / "pretrained_sketch_rnn"),
                        help="folder of .gen.json files")
    parser.add_argument("--drawings", default=str(SHARED / "sketches" /
                                                  "quickdraw_lamnguyen_simplified"),
                        help="folder of QuickDraw simplified ndjson, one file per class")
    parser.add_argument("--workdirs", default=None,
                        help="folder of imported workdirs (<name>/); a missing one is imported "
                             "into a temp folder")
    args = parser.parse_args(argv)

    from sketch_rnn import pretrained

    with tempfile.TemporaryDirectory(prefix="pretrained_parity_") as tmp:
        for name in args.model or ["sheep", "bicycle", "key"]:
            model_file = pathlib.Path(args.models) / f"{name}.gen.json"
            drawing = pathlib.Path(args.drawings) / f"{name}.ndjson"
            for path in (model_file, drawing):
                if not path.is_file():
                    raise SystemExit(f"{path}: no such file")
            workdir = pathlib.Path(args.workdirs) / name if args.workdirs else None
            if workdir is None or not (workdir / "export").is_dir():
                workdir = pathlib.Path(tmp) / name
                pretrained.import_gen_json(model_file, workdir)
            print(json.dumps(compare(name, model_file, drawing, workdir)), flush=True)


if __name__ == "__main__":
    main()
