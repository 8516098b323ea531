"""Storage by URI through a whole stack started by the CLI: `echonote up` with a store configured starts the
local S3 server too; the CLI uploads once per content, sends only the URI, and reads the results from the
store; s3:// arguments work through the stack and with --local; the store's secret appears in no log,
status, result or Flower task."""
from __future__ import annotations

import base64
import json
import re
import urllib.request
from pathlib import Path

import pytest
from support.cli_runs import run_cli, user_clip
from support.environments import free_port, isolated_env
from support.object_store import requests_in_log
from support.sample_audio import pyannote_sample

from echonote import config

pytest.importorskip("s3fs")


@pytest.fixture(scope="module")
def store_stack(tmp_path_factory):
    """`echonote up` (no --role) in its own folders with ECHONOTE_STORAGE_URL set: every role, the store included."""
    root = tmp_path_factory.mktemp("store-stack")
    env = isolated_env(root, ECHONOTE_DATA_DIR=str(root / "data"), ECHONOTE_UPLOAD_DIR=str(root / "uploads"),
                       ECHONOTE_RESULTS_DIR=str(root / "results"), ECHONOTE_STORAGE_URL="s3://echonote",
                       ECHONOTE_STORAGE_PORT=str(free_port()), ECHONOTE_WORKER_CONCURRENCY="1",
                       ECHONOTE_STORAGE_SOURCES="http://127.0.0.1:")  # the unreachable-address test's web source
    up = run_cli("up", env=env, timeout=300)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield env, root, up
    finally:
        run_cli("down", env=env, timeout=120)


def _role_file(env) -> dict:
    return json.loads((Path(env["ECHONOTE_STATE_DIR"]) / "storage.json").read_text())


def _keys(env, prefix: str) -> list[str]:
    import botocore.session

    role = _role_file(env)
    s3 = botocore.session.get_session().create_client("s3", endpoint_url=role["endpoint"], region_name="us-east-1",
                                                      aws_access_key_id=role["key"],
                                                      aws_secret_access_key=role["secret"])
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket="echonote", Prefix=prefix).get("Contents", []))


def _storage_log(env) -> str:
    return (Path(env["ECHONOTE_STATE_DIR"]) / "logs" / "storage.log").read_text(errors="replace")


def test_up_starts_the_store_when_one_is_configured(store_stack):
    env, _, up = store_stack
    role = _role_file(env)
    assert re.search(r"^storage\s+pid \d+\s+running", up.stdout, re.MULTILINE), up.stdout
    assert f"object store: {role['endpoint']}" in up.stdout and "in memory" in up.stdout
    assert role["secret"] not in up.stdout + up.stderr


def test_diarize_a_local_file_through_the_store_uploads_once(store_stack, tmp_path):
    env, root, _ = store_stack
    clip = user_clip(pyannote_sample(), tmp_path / "mine", "standup.wav", 0, 12)
    twin = tmp_path / "mine" / "standup copy.wav"
    twin.write_bytes(clip.read_bytes())
    out = tmp_path / "out"
    done = run_cli("diarize", str(clip), str(twin), "--rttm", str(out), env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    uploaded = re.findall(r"in the object store as (s3://echonote/uploads/\S+)", done.stderr)
    assert len(uploaded) == 2 and uploaded[0] == uploaded[1]  # same bytes: one object
    digest_folder = uploaded[0].split("/", 3)[3].rsplit("/", 1)[0]
    assert requests_in_log(_storage_log(env), "PUT", f"/echonote/{digest_folder}/") == 1  # two submits, one upload
    assert not any((root / "uploads").rglob("*.wav"))  # nothing staged in the local upload root
    rttms = sorted(out.glob("*.rttm"))  # read from the store (the worker might be another machine)
    assert [p.name for p in rttms] == ["standup.rttm", "standup_copy.rttm"]
    assert all("SPEAKER" in p.read_text() for p in rttms)
    results = _keys(env, "results/")
    assert any(k.endswith("/standup.rttm") for k in results) and any(k.endswith("/standup.json") for k in results)


def test_an_s3_argument_is_sent_as_is_and_runs_locally_too(store_stack, tmp_path):
    env, _, _ = store_stack
    clip = user_clip(pyannote_sample(), tmp_path, "call.wav", 5, 10)
    first = run_cli("diarize", str(clip), "--json", str(tmp_path / "first.json"), env=env, timeout=900)
    assert first.returncode == 0, first.stderr
    uri = re.search(r"in the object store as (s3://\S+)", first.stderr).group(1)

    again = run_cli("diarize", uri, "--json", str(tmp_path / "remote.json"), env=env, timeout=900)
    assert again.returncode == 0, again.stderr
    assert "in the object store as" not in again.stderr  # nothing uploaded: the URI went as it was
    remote = json.loads((tmp_path / "remote.json").read_text())
    assert remote["audio"]["path"] == remote["audio_uri"] == uri
    assert remote["result_uri"].startswith("s3://echonote/results/")

    local = run_cli("diarize", "--local", uri, "--json", str(tmp_path / "local.json"), env=env, timeout=900)
    assert local.returncode == 0, local.stderr
    here = json.loads((tmp_path / "local.json").read_text())
    assert here["audio"]["path"] == uri and here["duration"] == pytest.approx(10.0, abs=0.05)


def test_a_missing_object_is_refused_before_anything_is_charged(store_stack):
    env, _, _ = store_stack
    missing = run_cli("diarize", "s3://echonote/uploads/nobody/missing.wav", env=env, timeout=120)
    assert missing.returncode != 0
    assert "s3://echonote/uploads/nobody/missing.wav does not exist" in missing.stderr


def test_the_worker_refuses_a_missing_object_once_and_stays_up(store_stack):
    """Sent straight by name (no client check): one BadInput, no retry, and the worker still answers."""
    env, _, _ = store_stack
    sent = run_cli("call", "echonote.diarize", "--kwargs", json.dumps({"audio_path": "s3://echonote/gone.wav"}),
                   "--wait", "--timeout", "120", env=env, timeout=180)
    assert sent.returncode != 0 and "s3://echonote/gone.wav does not exist" in sent.stdout + sent.stderr
    task_id = re.search(r"as task (\S+)", sent.stderr).group(1)
    log = (Path(env["ECHONOTE_STATE_DIR"]) / "logs" / "worker.log").read_text(errors="replace")
    assert f"echonote.diarize[{task_id}] received" in log and f"[{task_id}] retry" not in log
    status = run_cli("status", "--json", env=env, timeout=60)
    assert json.loads(status.stdout)["workers"], status.stdout


def test_transcript_canvas_through_the_store(store_stack, tmp_path):
    env, _, _ = store_stack
    clip = user_clip(pyannote_sample(), tmp_path, "interview.wav", 0, 12)
    done = run_cli("transcribe", str(clip), "--format", "txt", "--format", "srt", "--out", str(tmp_path / "t"),
                   env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SPEAKER" in done.stdout and (tmp_path / "t" / "interview.srt").is_file()
    assert re.search(r"txt: s3://echonote/results/\S+/interview\.txt", done.stderr)


def _flower_tasks(env) -> str:
    cfg = config.load(env)
    login = base64.b64encode(cfg.flower_basic_auth.encode()).decode()
    request = urllib.request.Request(f"http://127.0.0.1:{cfg.flower_port}/api/tasks",
                                     headers={"Authorization": f"Basic {login}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode()


def test_the_secret_is_in_no_log_status_result_or_flower_task(store_stack):
    env, root, _ = store_stack
    secret = _role_file(env)["secret"]
    status = run_cli("status", "--json", env=env, timeout=60)
    assert status.returncode in (0, 3) and secret not in status.stdout + status.stderr
    report = json.loads(status.stdout)
    assert any(p["role"] == "storage" and p["alive"] for p in report["processes"])
    assert report["storage"]["url"] == "s3://echonote" and "secret" not in json.dumps(report["storage"]).lower()
    for log in (Path(env["ECHONOTE_STATE_DIR"]) / "logs").glob("*.log"):
        assert secret not in log.read_text(errors="replace"), log
    for result in (root / "results").rglob("*"):
        if result.is_file():
            assert secret not in result.read_text(errors="replace"), result
    tasks = _flower_tasks(env)
    assert "s3://echonote/" in tasks  # Flower saw the jobs' arguments: a URI, never bytes or a key
    assert secret not in tasks


def test_job_out_reads_the_files_from_the_store(store_stack, tmp_path):
    """`echonote job ID --rttm/--out` reads what the worker put in the store: the worker's own result folder is
    deleted first, as it would be out of reach on another machine."""
    import shutil

    env, root, _ = store_stack
    clip = user_clip(pyannote_sample(), tmp_path, "later.wav", 3, 8)
    done = run_cli("diarize", str(clip), env=env, timeout=900)
    assert done.returncode == 0, done.stderr
    job_id = re.search(r"later\.wav: job (\S+)", done.stderr).group(1)
    for folder in (root / "results").iterdir():
        if (folder / "later.rttm").is_file():
            shutil.rmtree(folder)
    rttm = run_cli("job", job_id, "--rttm", env=env, timeout=120)
    assert rttm.returncode == 0 and rttm.stdout.startswith("SPEAKER later 1 "), rttm.stdout + rttm.stderr
    copied = run_cli("job", job_id, "--out", str(tmp_path / "copies"), env=env, timeout=120)
    assert copied.returncode == 0, copied.stderr
    assert sorted(p.name for p in (tmp_path / "copies").iterdir()) == ["later.json", "later.rttm"]


def test_an_unreachable_address_retries_a_few_times_then_fails(store_stack):
    """A store that does not answer is the system's fault: bounded retries with backoff, then one clear failure;
    no retry storm, and the worker goes on."""
    env, _, _ = store_stack
    dead = f"http://127.0.0.1:{free_port()}/meeting.wav"
    sent = run_cli("call", "echonote.transcribe", "--kwargs", json.dumps({"audio_path": dead}), "--wait",
                   "--timeout", "240", env=env, timeout=300)
    assert sent.returncode != 0 and "did not answer" in sent.stdout + sent.stderr, sent.stdout + sent.stderr
    task_id = re.search(r"as task (\S+)", sent.stderr).group(1)
    log = (Path(env["ECHONOTE_STATE_DIR"]) / "logs" / "worker.log").read_text(errors="replace")
    retries = re.findall(rf"Task echonote\.transcribe\[{task_id}\] retry: Retry in", log)
    assert len(retries) == 3, log[-3000:]  # JOB_TASK_OPTIONS: max_retries=3
    status = run_cli("status", "--json", env=env, timeout=60)
    assert json.loads(status.stdout)["workers"], status.stdout


def test_local_s3_with_only_the_standard_aws_variables(store_stack, tmp_path):
    """`echonote diarize --local s3://bucket/key` against any S3-compatible store, set up the way s3fs and boto3
    users already do: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION; no
    ECHONOTE_STORAGE_* setting and no storage.json in its state folder."""
    import botocore.session

    env, _, _ = store_stack
    role = _role_file(env)
    s3 = botocore.session.get_session().create_client("s3", endpoint_url=role["endpoint"], region_name="us-east-1",
                                                      aws_access_key_id=role["key"],
                                                      aws_secret_access_key=role["secret"])
    clip = user_clip(pyannote_sample(), tmp_path, "aws.wav", 10, 8)
    s3.put_object(Bucket="echonote", Key="shared/aws.wav", Body=clip.read_bytes())
    plain = {key: value for key, value in env.items() if not key.startswith("ECHONOTE_STORAGE_")}
    plain.update(ECHONOTE_STATE_DIR=str(tmp_path / "elsewhere"), AWS_ENDPOINT_URL=role["endpoint"],
                 AWS_ACCESS_KEY_ID=role["key"], AWS_SECRET_ACCESS_KEY=role["secret"], AWS_DEFAULT_REGION="us-east-1")
    done = run_cli("diarize", "--local", "s3://echonote/shared/aws.wav", "--json", str(tmp_path / "aws.json"),
                   env=plain, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads((tmp_path / "aws.json").read_text())
    assert result["audio"]["path"] == "s3://echonote/shared/aws.wav"
    assert result["duration"] == pytest.approx(8.0, abs=0.05)
    assert "result_uri" not in result  # no store configured: the outputs stay in the local results folder
