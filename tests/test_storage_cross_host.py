"""The cross-host case: a worker that shares no file system with its client completes a diarization and a
transcript canvas, with only the broker and the object store between them.

Here "another machine" is another user: the worker runs as uid 65534 (``setpriv``, in its own mount
namespace), with its own state,
data, upload and results folders in a tree that user owns, its own working directory and HOME, and its own
(SQLite) jobs database. The client's folders are 0700 root (the stack's roles run with umask 077), and the
test checks that the worker's user can read none of them, nor the client's audio file. What the worker is
given: the broker's URL (with the password) and the store's endpoint and key, as a machine elsewhere would.
A shared jobs database (ECHONOTE_DATABASE_URL, e.g. PostgreSQL) would keep the client's job rows in step; the
results reach the client through the result backend and the store, which is what this test follows.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from urllib.parse import quote

import pytest
from support.cli_runs import run_cli, user_clip
from support.environments import free_port, isolated_env
from support.sample_audio import pyannote_sample

pytest.importorskip("s3fs")
pytestmark = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0 or not (shutil.which("setpriv") and shutil.which("unshare")),
    reason="starting the worker as another user in its own mount namespace needs root, setpriv and unshare",
)

NOBODY = 65534


#: Run as uid 65534 in a mount namespace. The interpreter may live under root's home (pyenv): that one folder
#: is bound back into an otherwise empty /root, so the worker can run Python and sees nothing else of root's.
#: The folders made for that bind are 0755 whatever umask the test process has: under umask 077 they were
#: 0700, setpriv still exec'd Python with root's capabilities, and the worker's own spawn was refused.
_MACHINE = """set -e
umask 022
base="$1"; hold="$2"; shift 2
if [ -n "$base" ]; then
  mount --bind "$base" "$hold"
  mount -t tmpfs -o mode=755,size=1m tmpfs /root
  mkdir -p "$base"
  mount --move "$hold" "$base"
fi
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
"""


def as_nobody(*argv: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    """``argv`` as uid 65534, in its own mount namespace (see :data:`_MACHINE`)."""
    real = Path(os.path.realpath(sys.executable))
    base = str(real.parents[1]) if str(real).startswith("/root/") else ""
    hold = Path(tempfile.mkdtemp(prefix="echonote-mount-"))
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", _MACHINE, "machine",
                               base, str(hold), *argv], env=env, cwd=cwd, capture_output=True, text=True,
                              timeout=timeout)
    finally:
        hold.rmdir()


@pytest.fixture(scope="module")
def client_side(tmp_path_factory):
    """The client's machine: a private Redis and the object store, no worker; its folders root-only."""
    root = tmp_path_factory.mktemp("client-machine")
    env = isolated_env(root, ECHONOTE_DATA_DIR=str(root / "data"), ECHONOTE_UPLOAD_DIR=str(root / "uploads"),
                       ECHONOTE_RESULTS_DIR=str(root / "results"), ECHONOTE_STORAGE_URL="s3://echonote",
                       ECHONOTE_STORAGE_PORT=str(free_port()))
    up = run_cli("up", "--role", "redis", "--role", "storage", env=env, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, root
    finally:
        run_cli("down", env=env, timeout=120)


@pytest.fixture(scope="module")
def remote_worker(client_side):
    """The worker's machine: uid 65534, its own tree, told only the broker URL and the store's endpoint and key."""
    client_env, _ = client_side
    tree = Path(tempfile.mkdtemp(prefix="echonote-remote-worker-"))
    for sub in ("home", "state", "data", "uploads", "results", "cache"):
        (tree / sub).mkdir()
    for path in [tree, *tree.iterdir()]:
        os.chown(path, NOBODY, NOBODY)
    state = Path(client_env["ECHONOTE_STATE_DIR"])
    password = (state / "redis-password").read_text().strip()
    role = json.loads((state / "storage.json").read_text())
    env = {
        "PATH": os.environ["PATH"], "LANG": "C.UTF-8", "HOME": str(tree / "home"),
        "XDG_CACHE_HOME": str(tree / "cache"),
        "NUMBA_CACHE_DIR": str(tree / "cache" / "numba"), "MPLCONFIGDIR": str(tree / "cache" / "mpl"),
        "TORCH_HOME": str(tree / "cache" / "torch"), "PYANNOTE_METRICS_ENABLED": "false", "HF_HUB_OFFLINE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "ECHONOTE_STATE_DIR": str(tree / "state"), "ECHONOTE_DATA_DIR": str(tree / "data"),
        "ECHONOTE_UPLOAD_DIR": str(tree / "uploads"), "ECHONOTE_RESULTS_DIR": str(tree / "results"),
        "ECHONOTE_BROKER_URL": f"redis://:{quote(password, safe='')}@127.0.0.1:{client_env['ECHONOTE_REDIS_PORT']}/0",
        "ECHONOTE_WORKER_CONCURRENCY": "1", "ECHONOTE_READY_TIMEOUT": "180",
        "ECHONOTE_STORAGE_URL": "s3://echonote", "ECHONOTE_STORAGE_ENDPOINT": role["endpoint"],
        "ECHONOTE_STORAGE_ACCESS_KEY": role["key"], "ECHONOTE_STORAGE_SECRET_KEY": role["secret"],
    }
    up = as_nobody(sys.executable, "-m", "echonote", "up", "--role", "worker", env=env, cwd=tree / "home", timeout=400)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, tree, role
    finally:
        as_nobody(sys.executable, "-m", "echonote", "down", env=env, cwd=tree / "home", timeout=120)
        shutil.rmtree(tree, ignore_errors=True)


def test_the_worker_cannot_read_the_clients_folders(client_side, remote_worker, tmp_path):
    client_env, client_root = client_side
    env, tree, _ = remote_worker
    mine = user_clip(pyannote_sample(), tmp_path / "laptop", "only-here.wav", 0, 5)
    for folder in ("ECHONOTE_STATE_DIR", "ECHONOTE_UPLOAD_DIR", "ECHONOTE_RESULTS_DIR"):
        path = Path(client_env[folder])
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"
        assert as_nobody("ls", str(path), env=env, cwd=tree).returncode != 0
    assert as_nobody("cat", str(mine), env=env, cwd=tree).returncode != 0
    assert as_nobody("cat", str(Path(client_env["ECHONOTE_STATE_DIR"]) / "echonote.db"), env=env,
                     cwd=tree).returncode != 0
    assert not str(tree).startswith(str(client_root)) and not str(client_root).startswith(str(tree))


def test_a_diarization_and_a_transcript_complete_on_the_other_machine(client_side, remote_worker, tmp_path):
    client_env, client_root = client_side
    env, tree, role = remote_worker
    mine = user_clip(pyannote_sample(), tmp_path / "laptop", "board meeting.wav", 0, 12)

    diarized = run_cli("diarize", str(mine), "--json", str(tmp_path / "d.json"), env=client_env, timeout=900)
    assert diarized.returncode == 0, diarized.stdout + diarized.stderr
    result = json.loads((tmp_path / "d.json").read_text())  # copied from the store, not from the worker's disk
    assert result["num_speakers"] >= 1 and result["audio"]["path"].startswith("s3://echonote/uploads/")
    assert result["rttm_path"].startswith(str(tree / "results"))  # written on the worker's side...
    assert result["rttm_uri"].startswith("s3://echonote/results/")  # ...and put in the store

    transcript = run_cli("transcribe", str(mine), "--out", str(tmp_path / "t"), env=client_env, timeout=900)
    assert transcript.returncode == 0, transcript.stdout + transcript.stderr
    assert "SPEAKER" in transcript.stdout and (tmp_path / "t" / "board_meeting.txt").is_file()
    assert re.search(r"txt: s3://echonote/results/\S+/board_meeting\.txt", transcript.stderr)

    worker_files = {p.name for p in (tree / "results").rglob("*") if p.is_file()}
    assert {"board_meeting.rttm", "board_meeting.words.json", "board_meeting.txt"} <= worker_files
    assert not any(Path(client_env["ECHONOTE_RESULTS_DIR"]).rglob("*.rttm"))  # nothing was written on the client
    log = (tree / "state" / "logs" / "worker.log").read_text(errors="replace")
    assert role["secret"] not in log and "succeeded" in log


def test_voiceprints_and_a_words_only_transcript_on_the_other_machine(client_side, remote_worker, tmp_path):
    """Enrolment clips and --no-diarize transcripts went to the worker as the client's local paths, and the
    words-only transcript was built in the worker's folder: neither worked across machines. The clips now
    travel as store URIs and the client builds a words-only transcript in its own results folder.
    (Voiceprints live in the jobs database: here the worker's own, as it has no shared one.)"""
    client_env, client_root = client_side
    env, tree, _ = remote_worker
    mine = user_clip(pyannote_sample(), tmp_path / "laptop", "weekly.wav", 0, 30)

    enrolled = run_cli("speakers", "enroll", "Ann", str(mine), "--start", "8.3", "--end", "14.5", env=client_env,
                       timeout=900)
    assert enrolled.returncode == 0, enrolled.stdout + enrolled.stderr
    assert "enrolled Ann" in enrolled.stdout
    named = run_cli("diarize", str(mine), "--identify", "--json", str(tmp_path / "named.json"), env=client_env,
                    timeout=900)
    assert named.returncode == 0, named.stdout + named.stderr
    result = json.loads((tmp_path / "named.json").read_text())
    assert "Ann" in {s["speaker"] for s in result["speakers"]}, result["speakers"]

    words = run_cli("transcribe", str(mine), "--no-diarize", env=client_env, timeout=900)
    assert words.returncode == 0, words.stdout + words.stderr
    built = list(Path(client_env["ECHONOTE_RESULTS_DIR"]).rglob("weekly.txt"))
    assert len(built) == 1 and built[0].read_text().strip() == words.stdout.strip()
