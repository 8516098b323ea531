"""Paths the worker derives from message fields stay inside their root, whatever the sender.

A task id, a file stem or an output name comes from a message anyone with
broker access can write. :func:`safe_child` accepts only a plain name (one path
component) and checks that the resolved path, symlinks followed, is under the
root; anything else is a :class:`~echonote.errors.BadInput` (no retry).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

from echonote.errors import BadInput

__all__ = ["output_stem", "safe_child"]

MAX_NAME_BYTES = 255  # the longest file name common file systems allow
MAX_STEM_CHARS = 80  # an output file's stem: room for the longest suffix (".words.json") and then some
_UNSAFE = re.compile(r"[^\w.-]+")  # \w: letters and digits of any script, and "_"


def _plain_name_problem(name) -> str | None:
    """Why ``name`` is not a plain file name, or None when it is one."""
    if not isinstance(name, str) or not name:
        return "it is empty or not a string"
    if name in {".", ".."}:
        return "it names the folder itself or its parent"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        return "it contains control characters"
    if len(name.encode("utf-8", "surrogatepass")) > MAX_NAME_BYTES:
        return f"it is longer than {MAX_NAME_BYTES} bytes"
    return None


def safe_child(root: str | os.PathLike, name, what: str = "name") -> Path:
    """``root / name`` when ``name`` is one plain path component that resolves inside ``root``.

    ``what`` says where the name came from (``"task id"``, ``"output file name"``) for the message.
    """
    problem = _plain_name_problem(name)
    base = Path(root).expanduser().resolve()
    child = base / name if problem is None else None
    if child is not None:
        resolved = child.resolve()  # follows a symlink planted in the results folder
        if resolved.parent != base:
            problem = f"it resolves to {str(resolved)!r}, outside {str(base)!r}"
    if problem is not None:
        raise BadInput(
            f"refusing the {what} {name!r}: {problem}. The worker only writes to plain names inside "
            f"{str(base)!r}; send a simple name (letters, digits, '-', '_', '.') such as a UUID."
        )
    return child


def _sanitised_stem(name) -> str:
    if not isinstance(name, str):
        return ""
    base = re.split(r"[/\\]", name)[-1]  # a path sent as a name: its last part only
    stem = base.rsplit(".", 1)[0] if "." in base.strip(".") else base
    return _UNSAFE.sub("_", stem).strip("._-")[:MAX_STEM_CHARS].rstrip("._-")


def output_stem(source_name, audio_path) -> str:
    """The stem of a job's output files and RTTM uri: the user's original file name (``source_name``)
    reduced to safe characters (letters and digits of any script, ``.``, ``_``, ``-``) and at most
    :data:`MAX_STEM_CHARS` long, never a path; else the stem of the audio file the worker read."""
    return _sanitised_stem(source_name) or _sanitised_stem(str(audio_path)) or "audio"
