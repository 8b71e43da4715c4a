"""Workdirs: a lock per run, config.json compatibility checks, atomic directory replacement."""

import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import shutil
import socket
import tempfile

try:
    import fcntl
except ImportError:  # Not POSIX.
    fcntl = None

from absl import logging

from common.errors import WorkdirError
from common.files import atomic_write_text
from common.training import layout

LOCK_NAME = ".lock"
CONFIG_NAME = layout.CONFIG
# Things a run writes; with overwrite=True they are moved aside, never deleted.
ARTEFACTS = (layout.CHECKPOINTS, layout.BEST, layout.EXPORT, layout.EVENTS, "gallery", layout.CONFIG)


def recover_directory(target):
    """Puts back `target` from a `.old` copy if a crash fell between the two renames.

    Temp and `.old` copies that a killed write left behind are then removed (callers hold the
    workdir lock, so no other writer owns them).
    """
    target = pathlib.Path(target)
    olds = sorted(target.parent.glob(f".{target.name}.old-*"))
    if not target.exists() and olds:
        logging.warning("Recovering %s from %s after an interrupted replace.", target, olds[-1])
        os.replace(olds.pop(), target)
    for stale in olds + sorted(target.parent.glob(f".{target.name}.tmp-*")):
        logging.warning("Removing %s left by an interrupted write.", stale)
        shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def atomic_directory(target):
    """Yields a temp folder next to `target`; on success it replaces `target` whole.

    A failure inside the block removes the temp folder and leaves `target` as it was.
    """
    target = pathlib.Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover_directory(target)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class WorkdirLock:
    """An exclusive lock on a workdir, released on exit, with stale-lock detection.

    The lock file holds the owner's pid, host and start time, and the owner keeps an
    `fcntl.flock` on it for the whole run, so two runs can never both take it (not even
    two that find the same stale file at once). A file left by a run that died is taken
    over with a warning. A live owner, or a file written on another host (where flock may
    not reach), makes `acquire()` raise WorkdirError. Where flock is unavailable, an
    O_EXCL lock file and a pid check are used instead.
    """

    def __init__(self, workdir):
        self.path = pathlib.Path(workdir) / LOCK_NAME
        self.held = False
        self._fd = None

    def _info(self):
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(timespec="seconds")}

    def _in_use(self, pid, started=None):
        since = f", since {started}" if started else ""
        return WorkdirError(
            f"workdir {self.path.parent} is in use by process {pid} (lock file {self.path}"
            f"{since}). Stop that run or choose another --workdir.")

    def _read(self):
        """(info dict, raw text) of the lock file; {} for an empty, missing or garbled one."""
        try:
            raw = self.path.read_text()
        except OSError:
            return {}, ""
        try:
            info = json.loads(raw)
        except ValueError:
            return {}, raw
        return (info if isinstance(info, dict) else {}), raw

    def _check_owner(self, flocked):
        """Raises when the lock file names a run that may still be alive; else warns.

        Under our flock a same-host owner is dead (a live one would hold the flock), even
        if its pid has been reused; without flock a live pid counts as the owner.
        """
        info, raw = self._read()
        pid, host = info.get("pid"), info.get("host")
        same_host = host == socket.gethostname()
        if (not flocked and isinstance(pid, int) and same_host and _pid_alive(pid)
                and pid != os.getpid()):
            raise self._in_use(pid, info.get("started"))
        if not same_host and host is not None:
            raise WorkdirError(
                f"workdir {self.path.parent} is locked by host {host!r} pid {pid} "
                f"(lock file {self.path}). If no run is active there, delete the lock file.")
        if raw.strip():
            logging.warning("Removing stale lock %s left by pid %s.", self.path, pid)

    def _flock(self):
        """Takes the flock; True when held, False to retry, None when flock is unusable."""
        fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = self._read()[0]
            raise self._in_use(info.get("pid", "unknown"), info.get("started")) from None
        except OSError:  # No flock on this filesystem.
            os.close(fd)
            return None
        try:
            if os.fstat(fd).st_ino != os.stat(self.path).st_ino:
                raise FileNotFoundError  # Released and removed while we opened it.
            self._check_owner(flocked=True)
        except FileNotFoundError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(self._info()).encode())
        self._fd = fd
        return True

    def _exclusive_create(self):
        """The fallback without flock: O_EXCL create, stale files removed."""
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            self._check_owner(flocked=False)
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
            return False
        with os.fdopen(fd, "w") as f:
            json.dump(self._info(), f)
        return True

    def acquire(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        use_flock = fcntl is not None
        for _ in range(5):
            got = self._flock() if use_flock else None
            if got is None:
                use_flock = False
                got = self._exclusive_create()
            if got:
                self.held = True
                return self
        raise WorkdirError(f"could not take the lock {self.path}")

    def release(self):
        if not self.held:
            return
        with contextlib.suppress(OSError):
            if self._fd is not None or self._read()[0].get("pid") == os.getpid():
                self.path.unlink()  # Still under our flock: no one else holds this file.
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        self.held = False

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


def config_to_dict(config):
    """A JSON-friendly dict of a config dataclass (tuples become lists)."""
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _same_value(a, b):
    """Config values are equal, or name the same existing files (e.g. relative vs absolute)."""
    if a == b:
        return True
    if isinstance(a, str) and isinstance(b, str):
        return os.path.exists(a) and os.path.exists(b) and os.path.samefile(a, b)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return all(_same_value(x, y) for x, y in zip(a, b))
    return False


def check_or_write_config(workdir, config_dict, resumable_fields=(), overwrite=False,
                          defaults=None):
    """Writes config.json, or checks that an existing one matches.

    Fields in `resumable_fields` (e.g. num_steps) may change between runs. A field that the
    existing config.json lacks (it was written before the field existed) matches when the
    new value is its default in `defaults`. Any other difference raises WorkdirError,
    unless `overwrite` is set: then the old run's artefacts are moved to
    `workdir/replaced-<time>/`, never deleted.

    Returns:
      True when an earlier compatible run exists (so training resumes).
    """
    workdir = pathlib.Path(workdir)
    path = workdir / CONFIG_NAME
    resumed = False
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError as e:
            raise WorkdirError(f"{path} is not valid JSON ({e}); fix or move it away") from e
        defaults = defaults or {}
        added = {k for k in set(config_dict) - set(old)
                 if k in defaults and _same_value(defaults[k], config_dict[k])}
        diff = sorted(k for k in set(old) | set(config_dict)
                      if k not in resumable_fields and k not in added
                      and not _same_value(old.get(k), config_dict.get(k)))
        if diff and not overwrite:
            details = "; ".join(f"{k}: {old.get(k)!r} -> {config_dict.get(k)!r}" for k in diff)
            raise WorkdirError(
                f"workdir {workdir} holds a run with a different config ({details}). "
                "Use another --workdir, or pass --overwrite to move the old run aside.")
        if diff:
            backup = workdir / f"replaced-{datetime.datetime.now():%Y%m%d-%H%M%S}"
            backup.mkdir()
            for name in ARTEFACTS:
                if (workdir / name).exists():
                    os.replace(workdir / name, backup / name)
            logging.warning("Moved the previous run in %s to %s.", workdir, backup)
        else:
            resumed = True
    atomic_write_text(path, json.dumps(config_dict, indent=2, sort_keys=True) + "\n")
    return resumed


@contextlib.contextmanager
def claim_workdir(workdir, config_dict, resumable_fields=(), overwrite=False, chief=True,
                  defaults=None):
    """Holds the run's workdir for the block: the lock, then the config.json check.

    Call it after everything that can fail on bad input (data, model), so that nothing is
    written into the workdir before then. Non-chief workers take neither.

    Args:
        workdir: the run's folder.
        config_dict: the run's resolved config (written to config.json).
        resumable_fields, overwrite, defaults: see check_or_write_config.
        chief: whether this process is the chief worker.
    """
    if not chief:
        yield
        return
    workdir = pathlib.Path(workdir)
    with WorkdirLock(workdir):
        check_or_write_config(workdir, config_dict, resumable_fields, overwrite, defaults)
        recover_directory(workdir / "export")
        yield
