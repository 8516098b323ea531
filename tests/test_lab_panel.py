"""The notebook panel against a real stack: failed jobs with their reason, whole job labels, Cancel only while
running, the user's uploads."""
from __future__ import annotations

import datetime as dt

import pytest

from echonote import config

pytest.importorskip("ipywidgets")


def test_panel_shows_a_failed_job_with_its_reason_beside_a_good_one(stack):
    from echonote.lab.panel import SubmissionPanel
    from echonote.results import samples

    root = config.load().path("data_dir") / "panel-inputs"
    root.mkdir(parents=True, exist_ok=True)
    notes = root / "notes.wav"
    notes.write_text("these are meeting notes, not audio\n" * 20)
    sample = samples.ensure_pyannote_sample()["wav"]

    panel = SubmissionPanel(poll_seconds=0.2)
    panel.submit([notes, sample])
    table = panel.wait(timeout=600)

    rows = {row["file"]: row for row in table.rows}
    assert set(rows) == {"notes.wav", sample.name}, table
    assert rows["notes.wav"]["status"].startswith("FAILURE: BadInput"), table
    assert "not a recognised audio file" in rows["notes.wav"]["status"], table
    assert rows[sample.name]["status"] == "SUCCESS" and rows[sample.name]["speakers"] == 2, table
    assert "not a recognised audio file" in repr(table)  # what the notebook prints


def _upload(panel, name: str, data: bytes) -> None:
    """What the browser's file picker does: set the FileUpload widget's value."""
    panel.upload.value = ({"name": name, "type": "audio/wav", "size": len(data), "content": memoryview(data),
                           "last_modified": dt.datetime.now(dt.UTC)},)


def test_panel_jobs_on_one_file_have_distinct_whole_labels_and_finished_jobs_lose_cancel(stack):
    """Labels were cut to 18 characters (two jobs on `lab007_0…` looked the same) and Cancel stayed on finished jobs."""
    from echonote.lab.panel import SubmissionPanel

    root = config.load().path("data_dir") / "panel-inputs"
    root.mkdir(parents=True, exist_ok=True)
    long_name = root / "lab007_0_a_rather_long_interview_recording.wav"
    long_name.write_text("not audio: fails fast\n" * 20)

    panel = SubmissionPanel(poll_seconds=0.2)
    views = panel.submit([long_name, long_name])
    labels = [v.label for v in views]
    assert len(set(labels)) == 2, labels
    for view in views:
        assert long_name.name in view.label and view.job_id[:8] in view.label
        assert view.label in [getattr(child, "value", None) for child in view.box.children]  # shown whole
        assert not view.cancel_button.disabled and view.cancel_button.layout.display != "none"
    panel.wait(timeout=300)
    for view in views:
        assert view.cancel_button.disabled and view.cancel_button.layout.display == "none"
    assert len({row["job"] for row in panel.rows}) == 2


def test_panel_lists_this_users_audio_uploads_once_each_and_selects_a_new_one_on_top(stack):
    """The list showed every user's uploads, duplicates and non-audio files; a new upload scrolled out of view."""
    from echonote.client import uploads
    from echonote.lab.panel import SubmissionPanel
    from echonote.results import samples

    audio = samples.ensure_pyannote_sample()["wav"].read_bytes()
    uploads.store_bytes(audio + b"\0" * 64, "someone_elses.wav", user="someone-else")
    stray = uploads.user_root() / "0123456789abcdef"
    stray.mkdir(parents=True, exist_ok=True)
    (stray / "notes.txt").write_text("not audio")

    panel = SubmissionPanel(poll_seconds=0.2)
    _upload(panel, "first.wav", audio)
    _upload(panel, "second.wav", audio + b"\0" * 32)
    second = panel.files.value
    assert len(second) == 1 and second[0].name == "second.wav"
    assert panel.files.options[0] == ("upload: second.wav", second[0])  # newest on top, selected

    _upload(panel, "first_again.wav", audio)  # the same bytes under another name: one entry, now the newest
    labels = [label for label, _ in panel.files.options]
    uploaded = [label for label in labels if label.startswith("upload:")]
    # newest first; the session's other tests may have uploaded under the same user before this one
    assert uploaded[:2] == ["upload: first.wav", "upload: second.wav"], labels
    assert uploaded.count("upload: first.wav") == 1 and "upload: first_again.wav" not in uploaded, labels
    assert panel.files.value == (panel.files.options[0][1],)
    assert not [label for label in labels if "someone_elses" in label or "notes.txt" in label], labels

    _upload(panel, "notes.txt", b"plain text")
    assert "upload refused" in panel.message.value and "not an audio type" in panel.message.value
