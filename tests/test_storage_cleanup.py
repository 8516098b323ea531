"""Beat's cleanup also sweeps the object store: uploads and result folders past their retention go, those an
open job still needs stay, and nothing outside the store's uploads/ and results/ is touched. Against the
storage role's real S3 server (moto's emulator); the store's objects cannot be dated back, so the sweep is
run as if 40 days had passed."""
from __future__ import annotations

import time

import pytest

from echonote import client, db, names

pytest.importorskip("s3fs")

DAY = 86400


@pytest.fixture
def swept_store(object_store, monkeypatch, tmp_path):
    """The session's store under a prefix of this test's own, and local folders of its own (the sweep runs
    "40 days later", which would empty the session's)."""
    for key, value in object_store.env(ECHONOTE_STORAGE_URL=f"s3://{object_store.bucket}/sweep").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("ECHONOTE_UPLOAD_DIR", str(tmp_path / "uploads"))
    monkeypatch.setenv("ECHONOTE_RESULTS_DIR", str(tmp_path / "results"))
    return object_store


def _keys(store, prefix: str) -> set[str]:
    listed = store.client().list_objects_v2(Bucket=store.bucket, Prefix=prefix).get("Contents", [])
    return {item["Key"] for item in listed}


def test_the_store_is_swept_by_the_same_retentions(stack, swept_store):
    from echonote.worker.cleanup import cleanup_files

    s3, bucket = swept_store.client(), swept_store.bucket
    queued = "sweep/uploads/sweeper/aaaaaaaaaaaaaaaa/queued.wav"
    job = client.submit(names.DIARIZE, kind="diarize", audio_path=f"s3://{bucket}/{queued}", user="sweeper",
                        sender=lambda *args, **kwargs: None)  # a queued job that still needs its upload
    kept = {queued, f"sweep/results/{job.task_id}/partial.json", "sweep/notes/keep.txt", "elsewhere/keep.wav"}
    gone = {"sweep/uploads/sweeper/0123456789abcdef/old.wav", "sweep/results/done-task/meeting.rttm",
            "sweep/results/done-task/meeting.json"}
    for key in kept | gone:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * 100)
    try:
        assert cleanup_files()["store_objects"] == 0, "nothing is past its retention yet"
        report = cleanup_files(now=time.time() + 40 * DAY)
        assert report["store_objects"] == 3 and report["store_bytes"] == 300, report
        assert _keys(swept_store, "sweep/") | _keys(swept_store, "elsewhere/") == kept
    finally:
        db.fail_job(job.id, "closed by the test")


def test_a_store_that_does_not_answer_is_skipped_and_the_disk_still_swept(swept_store, monkeypatch, tmp_path,
                                                                          caplog):
    from echonote.worker.cleanup import cleanup_files

    old = tmp_path / "uploads" / "someone" / "0123456789abcdef" / "old.wav"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"RIFF")
    monkeypatch.setenv("ECHONOTE_STORAGE_ENDPOINT", "http://127.0.0.1:9")  # nothing listens on the discard port
    with caplog.at_level("WARNING", logger="echonote.worker.store_cleanup"):
        report = cleanup_files(now=time.time() + 40 * DAY)
    assert "skipped the object store this time" in caplog.text and "127.0.0.1:9" in caplog.text
    assert report["upload_files"] == 1 and report["store_objects"] == 0 and not old.exists()
