"""Each container role, run for real from its own requirement file (no container engine here).

An image is a venv from ``requirements/<role>.txt`` plus the echonote package (without
its worker code in the light images) and a start script. These tests build the same
thing: the venv under ``bench/.venvs/<role>`` (shared with bench/footprint.py and reused
while the requirement file is unchanged), the package installed like the Containerfile
does, then the role started by its own ``containers/start-*`` script against the
session's private Redis, and checked with compose.yaml's own healthcheck command.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from base64 import b64encode
from pathlib import Path

import psutil
import pytest
import yaml
from support.environments import free_port
from support.probes import HEAVY_PACKAGES

from echonote.testing import role_env

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS = ROOT / "containers"
VENVS = ROOT / "bench" / ".venvs"


def healthcheck(service: str) -> list[str]:
    """compose.yaml's healthcheck test for ``service`` as argv, with compose's `$$` unescaped."""
    test = yaml.safe_load((CONTAINERS / "compose.yaml").read_text())["services"][service]["healthcheck"]["test"]
    argv = [part.replace("$$", "$") for part in test[1:]]
    return ["sh", "-c", argv[0]] if test[0] == "CMD-SHELL" else argv


def build_step_snippets(image: str) -> list[str]:
    """The `python -c '...'` checks that the Containerfile runs at build time."""
    text = (CONTAINERS / f"Containerfile.{image}").read_text()
    return [code for _quote, code in re.findall(r"python -c (['\"])(.*?)\1", text)]


def install_package(where: Path, python: Path, *, drop_worker: bool) -> Path:
    """Install echonote like the Containerfile: copy the sources, maybe drop worker/, pip --no-deps."""
    src = where / "src"
    shutil.copytree(ROOT / "echonote", src / "echonote", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src)
    if drop_worker:
        shutil.rmtree(src / "echonote" / "worker")
    site = where / "site"
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "--target", str(site), str(src)], check=True, capture_output=True, cwd=where, timeout=600)
    return site


def role_environ(venv: Path, site: Path, **extra: str) -> dict[str, str]:
    """The session's settings (private Redis) with the role's venv first on PATH, as in the image."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONHOME"}}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", PYTHONPATH=str(site), PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def start(role: str, env: dict[str, str], cwd: Path) -> tuple[subprocess.Popen, Path]:
    log = cwd / f"{role}.log"
    proc = subprocess.Popen([str(CONTAINERS / f"start-{role}")], env=env, cwd=cwd,
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    return proc, log


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for(what: str, check, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"the role exited ({proc.returncode}) before {what}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {what} after {timeout:.0f} s:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)


@pytest.fixture(scope="module")
def light(tmp_path_factory):
    """The beat/Flower image's Python: requirements/beat.txt + echonote without echonote/worker."""
    venv = role_env.build("beat", VENVS / "beat")
    return venv, install_package(tmp_path_factory.mktemp("light"), venv / "bin/python", drop_worker=True)


@pytest.fixture(scope="module")
def heavy(tmp_path_factory):
    """The worker image's Python: requirements/worker.txt + the whole package (a ~6 GB venv, built once)."""
    venv = role_env.build("worker", VENVS / "worker", timeout=3000)
    return venv, install_package(tmp_path_factory.mktemp("heavy"), venv / "bin/python", drop_worker=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The lab image's Python: requirements/lab.txt + echonote without echonote/worker."""
    venv = role_env.build("lab", VENVS / "lab")
    return venv, install_package(tmp_path_factory.mktemp("lab"), venv / "bin/python", drop_worker=True)


@pytest.mark.slow
@pytest.mark.parametrize("image", ["beat", "lab"])
def test_light_image_build_checks_pass_and_nothing_heavy_is_importable(image, request):
    venv, site = request.getfixturevalue("light" if image == "beat" else "lab")
    env = role_environ(venv, site)
    for code in build_step_snippets(image):
        done = subprocess.run([str(venv / "bin/python"), "-c", code], env=env, capture_output=True, text=True, cwd="/")
        assert done.returncode == 0, done.stderr
    heavy = HEAVY_PACKAGES + ("echonote.worker",)
    if image == "lab":
        heavy = tuple(m for m in heavy if m != "numpy")  # matplotlib needs numpy
    probe = f"from echonote.boundary import heavy_installed; print(heavy_installed({heavy!r}))"
    out = subprocess.run([str(venv / "bin/python"), "-c", probe], env=env, capture_output=True, text=True, cwd="/")
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.slow
def test_beat_from_its_start_script_sends_the_schedule(light, stack, tmp_path):
    venv, site = light
    state = tmp_path / "state"
    state.mkdir()
    # A pid file naming a live process (pid 1) is what a killed container leaves behind.
    (state / "celerybeat.pid").write_text("1\n")
    # Its own state dir, the session's Redis: give it that Redis's password, as compose's .env does.
    env = role_environ(venv, site, ECHONOTE_STATE_DIR=str(state), ECHONOTE_WORKSHOP_SCHEDULE_SECONDS="2",
                       ECHONOTE_REDIS_PASSWORD=stack.cfg.redis_password)
    beat, log = start("beat", env, tmp_path)
    try:
        wait_for("a sent task", lambda: "Sending due task reset-daily-quotas" in log.read_text(), beat, log, 60)
        check = [part.replace("/var/lib/echonote/state", str(state)) for part in healthcheck("beat")]
        assert subprocess.run(check).returncode == 0, "a freshly written schedule file must pass"
        old = time.time() - 600
        for path in state.glob("celerybeat-schedule*"):
            os.utime(path, (old, old))
        assert subprocess.run(check).returncode != 0, "a schedule file untouched for 10 min must fail"
    finally:
        stop(beat)


def test_beat_healthcheck_window_covers_celerys_sync_interval():
    """Beat rewrites its schedule every Scheduler.sync_every seconds, between ticks of at most
    ECHONOTE_BEAT_LOCK_SECONDS / 3: the healthcheck's -mmin window must be longer than both."""
    from celery.beat import Scheduler

    from echonote import config

    minutes = int(re.search(r"-mmin -(\d+)", " ".join(healthcheck("beat"))).group(1))
    assert minutes * 60 > Scheduler.sync_every + config.load().beat_lock_seconds / 3 + 30


@pytest.mark.slow
def test_flower_from_the_light_image_answers_its_healthcheck(light, stack, tmp_path):
    venv, site = light
    port = str(free_port())
    env = role_environ(venv, site, ECHONOTE_FLOWER_ADDRESS="127.0.0.1", ECHONOTE_FLOWER_PORT=port)
    env.pop("ECHONOTE_FLOWER_BASIC_AUTH", None)
    refused = subprocess.run([str(CONTAINERS / "start-flower")], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode != 0 and "ECHONOTE_FLOWER_BASIC_AUTH" in refused.stderr

    env["ECHONOTE_FLOWER_BASIC_AUTH"] = "admin:pw-not-in-argv"
    flower, log = start("flower", env, tmp_path)
    check = [part.replace("5555", port) for part in healthcheck("flower")]
    check[0] = str(venv / "bin/python")
    try:
        def answers() -> bool:
            return subprocess.run(check, env=env, capture_output=True).returncode == 0

        wait_for("an answer on /healthcheck", answers, flower, log, 60)
        url = f"http://127.0.0.1:{port}/api/workers"
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(url, timeout=10)
        assert denied.value.code == 401
        login = "Basic " + b64encode(b"admin:pw-not-in-argv").decode()
        request = urllib.request.Request(url, headers={"Authorization": login})
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert "pw-not-in-argv" not in " ".join(psutil.Process(flower.pid).cmdline())
    finally:
        stop(flower)


@pytest.mark.slow
@pytest.mark.timeout(3600)  # the first run builds the ~6 GB worker venv
def test_worker_from_its_requirements_diarizes_the_sample(heavy, stack, tmp_path):
    from echonote import client, names

    venv, site = heavy
    env = role_environ(venv, site)
    for code in build_step_snippets("worker"):  # bundled weights' checksums, imageio's ffmpeg
        done = subprocess.run([str(venv / "bin/python"), "-c", code], env=env, capture_output=True, text=True, cwd="/")
        assert done.returncode == 0, done.stderr

    host, queue = f"ctr{uuid.uuid4().hex[:8]}", f"containers-{uuid.uuid4().hex[:8]}"
    data = tmp_path / "data"
    env = role_environ(venv, site, HOSTNAME=host, ECHONOTE_WORKER_QUEUES=queue, ECHONOTE_WORKER_CONCURRENCY="1",
                       ECHONOTE_DATA_DIR=str(data), ECHONOTE_UPLOAD_DIR=str(data / "uploads"),
                       ECHONOTE_RESULTS_DIR=str(tmp_path / "results"), PYANNOTE_METRICS_ENABLED="false")
    worker, log = start("worker", env, tmp_path)
    try:
        ping = lambda hostname: subprocess.run(healthcheck("worker"), env=dict(env, HOSTNAME=hostname),  # noqa: E731
                                               capture_output=True, timeout=60).returncode == 0
        wait_for("a reply to the healthcheck's ping", lambda: ping(host), worker, log, 180)
        assert not ping("no-such-container"), "the healthcheck must ping only its own worker"
        wav = data / "samples" / "pyannote_sample.wav"
        assert wav.exists(), "start-worker puts the sample on the data volume"
        sent = client.send_by_name(names.DIARIZE, kwargs={"audio_path": str(wav)}, queue=queue)
        result = client.wait(sent.id, timeout=600)
    finally:
        stop(worker)
    rttm = Path(result["rttm_path"]).read_text().splitlines()
    speakers = {line.split()[7] for line in rttm if line.startswith("SPEAKER")}
    assert len(speakers) >= 2, result
    assert f"worker@{host}" in log.read_text()
