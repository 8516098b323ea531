"""The notebook panel against a real stack: a failed job gets a row with its reason, next to a good one."""
from __future__ import annotations

import pytest

from echonote import config

pytest.importorskip("ipywidgets")


def test_panel_shows_a_failed_job_with_its_reason_beside_a_good_one(stack):
    from echonote import samples
    from echonote.lab.panel import SubmissionPanel

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
