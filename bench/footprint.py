"""Footprint of the roles: beat (light) vs worker (heavy), side by side in one run.

Each role's environment is built from its own requirement file
(``requirements/<role>.txt``) under ``bench/.venvs/`` (reused while the file
is unchanged). Then a private Redis, a beat from the beat env and a worker
from the worker env run for real; the worker is warmed with a job first.

    .venv/bin/python bench/footprint.py
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import private_stack_env, table  # noqa: E402

HERE = Path(__file__).resolve().parent
# Uncompressed size of the base image (python:3.11.x-slim-bookworm, as in containers/):
# a rough figure (Debian slim ~75 MB + CPython ~50 MB); pass --base-mb to use a measured one.
BASE_IMAGE_MB = 125
BEAT_IMPORT = "from echonote.celery_app import app; app.loader.import_default_modules(); import celery.beat"
WORKER_IMPORT = "from echonote.celery_app import app; import echonote.worker.tasks"


def import_seconds(python: Path, code: str, repeat: int = 3) -> float:
    timer = f"import time; t = time.perf_counter(); {code}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([str(python), "-c", timer], capture_output=True, text=True, check=True,
                                 cwd="/").stdout)
            for _ in range(repeat)]
    return statistics.median(runs)


def tree_rss(pid: int) -> int:
    import psutil

    proc = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [proc, *proc.children(recursive=True)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--venvs", type=Path, default=HERE / ".venvs", help="where role environments are built")
    parser.add_argument("--base-mb", type=float, default=BASE_IMAGE_MB, help="uncompressed base image size in MB")
    args = parser.parse_args()
    state = private_stack_env()

    from echonote import client, names
    from echonote.ops.stack import Stack
    from echonote.testing import role_env

    envs = {role: role_env.build(role, args.venvs / role) for role in ("beat", "worker", "lab")}
    sizes = {role: role_env.size_on_disk(path) for role, path in envs.items()}
    images = {role: args.base_mb * 1e6 + size - (_worker_code_size(envs[role]) if role != "worker" else 0)
              for role, size in sizes.items()}
    imports = {"beat": import_seconds(envs["beat"] / "bin/python", BEAT_IMPORT),
               "worker": import_seconds(envs["worker"] / "bin/python", WORKER_IMPORT)}

    stack = Stack(detach=False).up(("redis",))
    logs = Path(state)
    # The worker reads audio only under its data root: give it one with the sample in it.
    env = dict(os.environ, ECHONOTE_DATA_DIR=str(logs / "data"))
    procs = {
        "beat": subprocess.Popen([str(envs["beat"] / "bin/celery"), "-A", "echonote.celery_app", "beat",
                                  "-s", f"{state}/sched"],
                                 env=env, cwd="/", stdout=open(logs / "beat.out", "w"), stderr=subprocess.STDOUT),
        "worker": subprocess.Popen([str(envs["worker"] / "bin/celery"), "-A", "echonote.celery_app", "worker",
                                    "-c", "1", "-n", "bench@%h", "--include=echonote.worker.tasks",
                                    "-Q", "default,diarization"],
                                   env=env, cwd="/", stdout=open(logs / "worker.out", "w"), stderr=subprocess.STDOUT),
    }
    try:
        client.wait(client.send_by_name(names.PING).id, timeout=120)
        warm_job = "ping"
        sample = _sample_audio(envs["worker"])
        if sample:
            (logs / "data").mkdir(exist_ok=True)
            sample = str(shutil.copy(sample, logs / "data" / "pyannote_sample.wav"))
            client.wait(client.send_by_name(names.DIARIZE, kwargs={"audio_path": sample}).id, timeout=600)
            warm_job = "diarize(pyannote sample)"
        time.sleep(2)
        rss = {role: tree_rss(p.pid) for role, p in procs.items()}
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=30)
        stack.down()

    mb = lambda b: f"{b / 1e6:,.0f}"  # noqa: E731
    rows = [
        ["environment on disk (MB)", mb(sizes["beat"]), mb(sizes["worker"]), mb(sizes["lab"]),
         f"1/{sizes['worker'] / sizes['beat']:.0f}", "<= 1/20"],
        [f"image estimate: base {args.base_mb:.0f} + venv layer (MB)", mb(images["beat"]), mb(images["worker"]),
         mb(images["lab"]), f"1/{images['worker'] / images['beat']:.0f}", "<= 1/20"],
        ["RSS of the running role (MB)", mb(rss["beat"]), mb(rss["worker"]), "-",
         f"1/{rss['worker'] / rss['beat']:.1f}", "<= 1/10"],
        ["import time (s)", f"{imports['beat']:.2f}", f"{imports['worker']:.2f}", "-",
         f"1/{imports['worker'] / imports['beat']:.1f}", "-"],
    ]
    print(f"footprint: beat env vs worker env, each from requirements/<role>.txt; worker warmed with {warm_job}")
    print(table(["measure", "beat/Flower", "worker", "lab", "beat/worker", "goal"], rows))
    return 0


def _worker_code_size(venv: Path) -> int:
    """Bytes of echonote/worker in a venv: the light images leave it out."""
    from echonote.testing import role_env

    found = list(venv.glob("lib/python3*/site-packages/echonote/worker"))
    return role_env.size_on_disk(found[0]) if found else 0


def _sample_audio(worker_env: Path) -> str | None:
    """pyannote's bundled sample, if the worker env has pyannote.audio and a diarize task."""
    code = "import importlib.util as u, pathlib; s = u.find_spec('pyannote.audio'); " \
           "print(pathlib.Path(s.origin).parent / 'sample' / 'sample.wav' if s else '')"
    out = subprocess.run([str(worker_env / "bin/python"), "-c", code], capture_output=True, text=True).stdout.strip()
    return out if out and Path(out).exists() else None


if __name__ == "__main__":
    sys.exit(main())
