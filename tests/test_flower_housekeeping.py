"""Notebook 04's Flower views show the jobs, not the janitor: housekeeping is left out unless asked for.

The janitor runs every minute, so after half an hour most of Flower's tasks
were ``requeue_stranded`` and the table, Gantt chart and histogram showed
little else. Real Flower, real worker, real events.
"""
from __future__ import annotations

import pytest

from echonote import client, names
from echonote.results import samples

pytest.importorskip("matplotlib")


def test_flower_views_leave_housekeeping_out_by_default_and_show_it_on_request(stack):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from echonote.lab import flower_view

    stack.up(("flower",))
    sample = samples.ensure_pyannote_sample()["wav"]  # a user job: 30 s of audio, a runtime for the histogram
    job = client.submit(names.DIARIZE, {"audio_path": str(sample)}, kind="diarize", audio_path=str(sample),
                        audio_seconds=30.0)
    housekeeping = [client.send_by_name(names.PING, kwargs={"payload": "x"}).id,
                    client.send_by_name(names.REQUEUE_STRANDED).id]
    awaited = [job.task_id, *housekeeping]

    everything = flower_view.wait_for_tasks(awaited, timeout=300, include_housekeeping=True)
    shown = flower_view.wait_for_tasks(awaited, timeout=10)
    assert {names.PING, names.REQUEUE_STRANDED, names.DIARIZE} <= {r["name"] for r in everything}
    assert job.task_id in {r["task_id"] for r in shown}
    assert not {r["task_id"] for r in shown} & set(housekeeping)
    assert {r["name"] for r in flower_view.tasks()} & flower_view.housekeeping_names() == set()

    table = flower_view.tasks_table(everything)
    assert names.DIARIZE in repr(table) and names.REQUEUE_STRANDED not in repr(table)
    assert names.REQUEUE_STRANDED in repr(flower_view.tasks_table(everything, include_housekeeping=True))

    legend = {t.get_text() for t in flower_view.runtime_histogram(everything).axes[0].get_legend().get_texts()}
    assert names.DIARIZE in legend and not legend & flower_view.housekeeping_names()
    legend = {t.get_text() for t in flower_view.runtime_histogram(everything, include_housekeeping=True)
              .axes[0].get_legend().get_texts()}
    assert {names.PING, names.REQUEUE_STRANDED} <= legend

    bars = len(flower_view.gantt_figure(everything).axes[0].collections)
    all_bars = len(flower_view.gantt_figure(everything, include_housekeeping=True).axes[0].collections)
    assert all_bars >= bars + 2  # at least one bar for each housekeeping task
    plt.close("all")


def test_housekeeping_is_what_beat_sends_on_its_own_plus_ping():
    from echonote.celeryconfig import beat_schedule
    from echonote.lab.flower_view import housekeeping_names

    assert housekeeping_names() == {e["task"] for e in beat_schedule.values()} | {names.PING}
    assert names.REQUEUE_STRANDED in housekeeping_names() and names.DIARIZE not in housekeeping_names()
