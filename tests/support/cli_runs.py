"""Run the ``echonote`` command: ``python -m echonote`` from the project, or the installed script from any folder."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from support.environments import ROOT

ECHONOTE = str(Path(sys.executable).with_name("echonote"))


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """``python -m echonote ARGS`` from the project folder, with this session's settings unless ``env``."""
    return subprocess.run([sys.executable, "-m", "echonote", *args], env=env or dict(os.environ),
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def echonote(*args: str, cwd: Path, env: dict[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([ECHONOTE, *args], cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True,
                          timeout=timeout)


def user_copy(sample_wav: Path, folder: Path, name: str) -> Path:
    """The sample as a user's own file ``folder/name``, outside every data root (so it gets staged)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    shutil.copyfile(sample_wav, target)
    return target


def follow_commands(output: str) -> list[str]:
    """The `echonote job ID --wait` commands that ``--no-wait`` printed, in order."""
    return re.findall(r"follow it with: (echonote job \S+ --wait)", output)


def user_clip(sample_wav: Path, folder: Path, name: str, start: float, seconds: float) -> Path:
    """``seconds`` of the (PCM WAV) sample from ``start``, as a user's own file ``folder/name``."""
    import wave

    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    with wave.open(str(sample_wav)) as src, wave.open(str(target), "wb") as dst:
        dst.setparams(src.getparams())
        src.setpos(int(start * src.getframerate()))
        dst.writeframes(src.readframes(int(seconds * src.getframerate())))
    return target
