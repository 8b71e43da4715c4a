"""Serving the studio: which models to load (flags, workdir folders, the demo's), and the server."""

import ipaddress
import pathlib

from werkzeug.serving import make_server

from common.errors import DataError
from common.exports import is_export, resolve_export
from common.exports import side_metadata
from studio import server

DEMO_COMMAND = ("test -x .venv/bin/python || python3 -m venv .venv && "
                ".venv/bin/pip install -q -e . && .venv/bin/python -m scripts.demo")


def export_kind(path):
    """The "model" an export or workdir's export says it is ("sketch_rnn", "wae_style",
    "alexnet"), read from its metadata.json without loading it; None when unreadable."""
    kind = (side_metadata(resolve_export(path)) or {}).get("model")
    return kind if isinstance(kind, str) else None


def _workdirs(folder):
    """The workdirs with an export in `folder`, sorted by name."""
    return sorted(p for p in pathlib.Path(folder).iterdir() if p.is_dir() and is_export(p))


def expand_sketch_models(paths):
    """--sketch_model values -> export paths: a folder that is no export stands for the
    exports of the workdirs inside it (sorted by name).

    Raises:
        DataError: a path that is neither an export, a workdir nor a folder of them.
    """
    out = []
    for value in paths or ():
        path = pathlib.Path(value)
        if is_export(path) or not path.is_dir():
            out.append(path)  # Loading names a bad path.
            continue
        inside = []
        for p in _workdirs(path):
            kind = export_kind(p)
            if kind in (None, "sketch_rnn"):  # Unreadable metadata: loading names the problem.
                inside.append(p)
            else:
                print(f"note: {p} is a {kind!r} model, not a Sketch RNN; left out of the picker",
                      flush=True)
        if not inside:
            raise DataError(f"--sketch_model={value}: not an export, a workdir with export/, or "
                            "a folder of such workdirs")
        out += inside
    return out


def find_models(sketch_model, style_model, demo_out, models_dir=None):
    """The model paths to load: the flags, or else the demo's exports and the models in
    `models_dir` (e.g. `scripts.reproduce_sketch_rnn`'s workdirs) that exist: its Sketch RNNs
    join the picker after the demo's, and its first WAE (by name) replaces the demo's.

    Returns:
        (list of Sketch RNN export paths, style export path or None).

    Raises:
        DataError: no flags and no exports found, with the commands that make them.
    """
    if isinstance(sketch_model, (str, pathlib.Path)):
        sketch_model = [sketch_model]
    if sketch_model or style_model:
        return expand_sketch_models(sketch_model), style_model
    demo = pathlib.Path(demo_out)
    found = [demo / name / "export" for name in ("sketch_rnn", "wae_style")]
    found = [p if (p / "saved_model.pb").is_file() else None for p in found]
    sketches = [found[0]] if found[0] else []
    styles = []
    if models_dir is not None and pathlib.Path(models_dir).is_dir():
        for p in _workdirs(models_dir):
            kind = export_kind(p)
            if kind == "wae_style":
                styles.append(p / "export")
            elif kind in (None, "sketch_rnn"):
                sketches.append(p / "export")
    if styles:  # A WAE trained into models/ is preferred to the demo's small one.
        if len(styles) > 1:
            print(f"note: {len(styles)} WAE models in {models_dir}/; serving {styles[0].parent} "
                  "(--style_model picks another)", flush=True)
        found[1] = styles[0]
    if not sketches and not found[1]:
        raise DataError(
            f"no --sketch_model or --style_model given, no demo exports in {demo}/ and no "
            f"models in {models_dir}/. Make them with the demo (README.md, 7 to 27 minutes "
            f"on 2 CPU cores):\n  {DEMO_COMMAND}\nor rebuild a trained model "
            "(python -m scripts.reproduce_sketch_rnn --list), or pass --sketch_model=WORKDIR "
            "and/or --style_model=WORKDIR.")
    if not sketches:
        print(f"note: {demo / 'sketch_rnn' / 'export'} not found; that panel stays off",
              flush=True)
    if not found[1]:
        where = f" and no WAE in {models_dir}/" if models_dir is not None else ""
        print(f"note: {demo / 'wae_style' / 'export'} not found{where}; that panel stays off",
              flush=True)
    return sketches, found[1]


def is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(sketch_model, style_model, host, port, demo_out, models_dir=None):
    """Loads the models and serves until interrupted (Werkzeug's threaded WSGI server)."""
    sketch_path, style_path = find_models(sketch_model, style_model, demo_out, models_dir)


    local = is_loopback(host)
    if not local:
        print(f"warning: binding {host}: anyone who can reach it can run the models", flush=True)
    studio = server.create_app(sketch_path or None, style_path,
                               trusted_hosts=server.LOOPBACK_HOSTS if local else None)
    try:
        httpd = make_server(host, port, studio, threaded=True)
    except OSError as e:
        raise DataError(f"cannot serve on {host}:{port} ({e})") from None
    print(f"Studio at http://{host}:{httpd.server_port}/ (Ctrl-C stops it)", flush=True)
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()
