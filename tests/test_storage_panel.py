"""The notebook panel with an object store configured: the same stage_audio as the CLI uploads the file (a bar
in the panel's message line) and the job carries the URI."""
from __future__ import annotations

import pytest
from support.object_store import wav_bytes

pytest.importorskip("ipywidgets")
pytest.importorskip("s3fs")


def test_the_panel_uploads_to_the_store_with_a_bar_and_sends_the_uri(stack, object_store, monkeypatch, tmp_path):
    from echonote import db
    from echonote.lab.panel import SubmissionPanel

    for key, value in object_store.env().items():  # this client (the notebook) has the store; the worker not
        monkeypatch.setenv(key, value)
    take = tmp_path / "panel take.wav"
    take.write_bytes(wav_bytes(1.0) + b"panel")
    panel = SubmissionPanel(poll_seconds=0.2)
    shown = []
    panel.message.observe(lambda change: shown.append(change["new"]), names="value")

    views = panel.submit([take])
    assert any("to the object store <progress" in message for message in shown), shown
    sent = db.get_job(views[0].job_id).audio_path
    assert sent.startswith("s3://echonote/uploads/tester/") and sent.endswith("/panel_take.wav")
    assert sent.split("/", 3)[3] in object_store.keys("uploads/tester/")

    # The session's worker has no store configured: it refuses the URI as outside its sources, at once.
    table = panel.wait(timeout=300)
    status = table.rows[0]["status"]
    assert status.startswith("FAILURE: BadInput") and "not in a place this worker fetches audio from" in status
