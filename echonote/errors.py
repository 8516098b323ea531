"""Errors that cross the broker: light classes, so a client rebuilds them without task code."""


class BadInput(ValueError):
    """The job's input is wrong (file, format, options); retrying cannot help. The message says what to do."""


class TransientError(RuntimeError):
    """A passing failure (database busy, disk hiccup); the task retries with bounded backoff."""


class TimeLimitReached(RuntimeError):
    """The task ran past its time limit; the message names the limit and the setting that raises it."""
