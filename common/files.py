"""Atomic file writes (a temp file in the same folder, then a rename) and file hashes: the one home for them."""

import contextlib
import hashlib
import os
import pathlib
import tempfile


def atomic_write(path, write_fn, mode="wb"):
    """Writes `path` through write_fn(file) on a temp file in its folder, then os.replace().

    Creates parent folders. A crash leaves the old file (or none), never a partial one.

    Returns:
        The path written, as a str.
    """
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return str(path)


def display_path(path):
    """`path` as a report shows it: relative to the working folder when it lies inside it,
    else as given (a str), so a report names no folder of the machine it ran on."""
    given = os.fspath(path)
    try:
        rel = os.path.relpath(os.path.abspath(given))
    except ValueError:  # Another drive (Windows).
        return given
    return given if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def atomic_write_text(path, text):
    """Atomically writes a UTF-8 text file; returns its path."""
    return atomic_write(path, lambda f: f.write(text), "w")


def atomic_write_bytes(path, data):
    """Atomically writes a bytes file; returns its path."""
    return atomic_write(path, lambda f: f.write(data), "wb")


def sha256(path, chunk=1 << 20):
    """Hex sha256 of a file's bytes, read in chunks (OSError if it cannot be read)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
