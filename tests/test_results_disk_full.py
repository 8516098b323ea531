"""A full results disk, through a real worker: the write is retried, the model runs once, and the
job fails with the folder named (issue 10, item 11)."""
from __future__ import annotations

import os
import subprocess

import pytest

from echonote import client, config, db, names
from echonote.testing import chaos

pytest.importorskip("numpy", reason="the worker extra is not installed")


def mount_full_disk(folder) -> None:
    """A 64 KiB tmpfs at ``folder``, filled to the last byte: a real ENOSPC for the worker."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        raise OSError(f"could not mount a small file system at {folder}: {mounted.stderr.strip()}")
    with open(folder / "filler", "wb", buffering=0) as filler:
        try:
            while filler.write(b"\0" * 4096):
                pass
        except OSError:
            pass


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small file system needs root")
def test_a_full_results_disk_fails_once_naming_the_folder(stack, tmp_path):
    """The write's OSError became a TransientError, so the whole diarization ran four times."""
    try:
        mount_full_disk(tmp_path / "probe")
    except OSError as exc:
        pytest.skip(f"this test needs to mount a small file system: {exc}")
    subprocess.run(["umount", str(tmp_path / "probe")], check=True)
    folder = None

    def send_onto_full_disk(name, kwargs, task_id, headers, **options):
        nonlocal folder
        folder = config.load().path("results_dir") / task_id
        mount_full_disk(folder)
        return client.send_by_name(name, kwargs=kwargs, task_id=task_id, headers=headers, **options)

    clip = chaos.short_clip(2.0)
    try:
        db.set_quota("diskfull", 1000)
        job = client.submit(names.DIARIZE, {"audio_path": str(clip)}, kind="diarize", sender=send_onto_full_disk,
                            user="diskfull", audio_seconds=2)
        with pytest.raises(Exception, match="No space left on device") as failed:
            client.wait(job.task_id, timeout=300)
        message = str(failed.value)
        assert type(failed.value).__name__ == "ResultWriteError", repr(failed.value)
        assert str(folder) in message and "ECHONOTE_RESULTS_DIR" in message and "after 3 tries" in message, message
        row = db.get_job(job.id)
        assert (row.status, row.attempts) == (db.FAILED, 1), "the model must run once: only the write is retried"
        used = next(u.used_seconds_today for u in db.list_users() if u.name == "diskfull")
        assert row.audio_seconds == 0 and used == 0, "a full disk is not the user's doing: refunded"
        assert stack.log_since_start("worker").count(f"{names.DIARIZE}[{job.task_id}] received") == 1
    finally:
        if folder is not None:
            subprocess.run(["umount", str(folder)], check=False)
