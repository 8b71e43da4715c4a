"""Runs a trainer CLI module unchanged, plus a hook that SIGKILLs the process at a chosen moment.

Usage: python -m tests.support.killhook scripts.train_sketch_rnn --flags...
The moment comes from $SKETCHSTYLE_TEST_KILL = "<point>:<n>"; without it nothing is hooked.

  ckpt_shard:N   checkpoint N's data is written to checkpoints/ckpt-N_temp/, not yet merged
  ckpt_state:N   ckpt-N's files are complete, the `checkpoint` state file does not name it yet
  ckpt_sweep:N   the state names ckpt-N; killed while the oldest checkpoint is half deleted
  best:N         during the N-th write of best/ (data written, not merged)
  export:N       the N-th export is fully written in its temp folder, before any rename
  export_swap:N  between the two renames of the N-th export (old moved aside, new not in; N >= 2)
  config:1       config.json's temp file is written and synced, not yet renamed
"""

import os
import pathlib
import runpy
import signal
import sys

ENV = "SKETCHSTYLE_TEST_KILL"


def _die(what):
    print(f"KILLHOOK: SIGKILL {what}", file=sys.stderr, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)


def install(point, n):
    """Patches the library functions that run at `point`; the n-th occurrence kills."""
    import tensorflow as tf
    from tensorflow.python.checkpoint import checkpoint_management as cm
    from tensorflow.python.ops import gen_io_ops

    from common import files
    from common.training import workdir as workdir_lib

    seen = {"best": 0, "export": 0, "moved_aside": False, "sweep": 0}

    if point in ("ckpt_shard", "best"):
        merge = gen_io_ops.merge_v2_checkpoints

        def check(destination):
            dest = destination.numpy().decode()
            if point == "ckpt_shard" and dest.endswith(f"checkpoints/ckpt-{n}"):
                _die(f"before merging {dest}")
            if point == "best" and os.path.basename(os.path.dirname(dest)) == "best":
                seen["best"] += 1
                if seen["best"] == n:
                    _die(f"before merging {dest}")
            return 0

        def merge_then_maybe_die(checkpoint_prefixes, destination_prefix, *a, **kw):
            # The save may be traced: the check runs as an op after the shards, before the merge.
            guard = tf.py_function(check, [destination_prefix], tf.int32)
            with tf.control_dependencies([guard]):
                return merge(checkpoint_prefixes, destination_prefix, *a, **kw)

        gen_io_ops.merge_v2_checkpoints = merge_then_maybe_die
    elif point == "ckpt_state":
        update = cm.update_checkpoint_state_internal

        def update_or_die(save_dir, model_checkpoint_path, *a, **kw):
            if save_dir.endswith("checkpoints") and model_checkpoint_path.endswith(f"ckpt-{n}"):
                _die(f"before recording {model_checkpoint_path}")
            return update(save_dir, model_checkpoint_path, *a, **kw)

        cm.update_checkpoint_state_internal = update_or_die
    elif point == "ckpt_sweep":
        delete = cm._delete_file_if_exists

        def delete_or_die(filespec):
            if "/checkpoints/" in filespec:
                seen["sweep"] += 1
                if seen["sweep"] == 2 * (n - 3):  # Save n deletes its oldest: .index, then .data.
                    _die(f"between deleting the .index and the .data of {filespec}")
            return delete(filespec)

        cm._delete_file_if_exists = delete_or_die
    elif point in ("export", "export_swap", "config"):
        real_os = os

        class OsProxy:
            """os for common.files and common.training.workdir, with a replace() that can die."""

            def __getattr__(self, name):
                return getattr(real_os, name)

            @staticmethod
            def replace(src, dst):
                s, d = pathlib.Path(src).name, pathlib.Path(dst).name
                if point == "config" and d == "config.json" and s.startswith(".config.json."):
                    _die(f"before renaming {s} to config.json")
                if s == "export" and d.startswith(".export.old-"):  # Export k: old moved aside.
                    seen["export"] += 1
                    seen["moved_aside"] = True
                    if seen["export"] == n and point == "export":
                        _die("with the new export complete in its temp folder, before any rename")
                    if seen["export"] == n and point == "export_swap":
                        real_os.replace(src, dst)
                        _die("between moving export aside and renaming the new one in")
                elif d == "export" and s.startswith(".export.tmp-"):  # New export renamed in.
                    if not seen["moved_aside"]:  # The first export: nothing to move aside.
                        seen["export"] += 1
                        if seen["export"] == n and point == "export":
                            _die("with the new export complete in its temp folder")
                    seen["moved_aside"] = False
                return real_os.replace(src, dst)

        workdir_lib.os = files.os = OsProxy()
    else:
        raise SystemExit(f"killhook: unknown point {point!r}")


def main():
    module = sys.argv[1]
    sys.argv = [module] + sys.argv[2:]
    spec = os.environ.get(ENV)
    if spec:
        point, n = spec.split(":")
        install(point, int(n))
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
