"""The package's own exception types, so callers can tell bad input from bugs."""


class SketchStyleError(Exception):
    """Base class for every error this package raises on purpose."""


class DataError(SketchStyleError, ValueError):
    """Bad input data: a corrupt file, a malformed stroke array, a wrong image.

    The message always names the offending file or value.
    """


class UnsafeFileError(DataError):
    """A file asked for something we refuse to do, e.g. a pickle that would run code."""


class WorkdirError(SketchStyleError, RuntimeError):
    """A workdir cannot be used: locked by another run, or made with another config."""
