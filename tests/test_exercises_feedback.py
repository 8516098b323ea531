"""Exercise checks answer in one formatted line, hint at the idea and never give the expected value away.

The solved side (every check passes on its solution, against a real stack)
runs in tests/test_notebooks.py; here: the blank and the wrong answers, fast.
"""
from __future__ import annotations

import os
from pathlib import Path

import nbformat

from echonote.lab import checks

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = ROOT / "notebooks" / "exercises"
NOTEBOOKS = sorted(p.name for p in EXERCISES.glob("[0-9][0-9]_*.ipynb"))


def assert_not_yet(feedback, *leaks: object) -> str:
    """A "not yet" line, no traceback, none of ``leaks`` (expected values) in it; return the line."""
    assert isinstance(feedback, checks.Feedback) and not feedback, feedback
    line = str(feedback)
    assert line.startswith("not yet — hint: ") and "\n" not in line and "Traceback" not in line, line
    for leak in leaks:
        assert repr(leak) not in line and str(leak) not in line, (leak, line)
    return line


SEGMENTS = [{"start": 0.0, "end": 4.0, "speaker": "Diane"}, {"start": 4.0, "end": 6.5, "speaker": "Sheila"},
            {"start": 7.0, "end": 9.0, "speaker": "Diane"}]


def test_talk_time_hints_name_no_expected_totals():
    expected = checks.talk_time_of(SEGMENTS)
    assert_not_yet(checks.check_talk_time(..., SEGMENTS), expected)
    assert_not_yet(checks.check_talk_time({"Diane": 6.0}, SEGMENTS), expected, sorted(expected))
    line = assert_not_yet(checks.check_talk_time({"Diane": 6.0, "Sheila": 9.9}, SEGMENTS), expected, 2.5)
    assert "Sheila" in line  # names the learner's own wrong key, not the right total
    assert checks.check_talk_time(dict(expected), SEGMENTS)


def test_words_per_speaker_hint_does_not_print_the_expected_dict():
    """The old hint printed the whole expected dict."""
    result = {"words": [{"word": w, "speaker": s} for w, s in
                        [("hello", "Diane"), ("hi", "Sheila"), ("oh", "Diane"), ("well", "Diane")]]}
    expected = {"Diane": 3, "Sheila": 1}
    assert_not_yet(checks.check_words_per_speaker(..., result), expected)
    assert_not_yet(checks.check_words_per_speaker({"Diane": 2, "Sheila": 1}, result), expected)
    assert_not_yet(checks.check_words_per_speaker({"Diane": 3}, result), expected)
    assert checks.check_words_per_speaker(expected, result)


def test_forced_result_hint_does_not_say_the_count(tmp_path):
    """The old hint said "pass num_speakers=3"."""
    audio = tmp_path / "talk.wav"
    audio.write_bytes(b"")
    audio.with_suffix(".rttm").write_text("".join(
        f"SPEAKER talk 1 {i}.0 1.0 <NA> <NA> {who} <NA> <NA>\n" for i, who in enumerate(["ann", "bob", "cy"])))
    two = {"segments": [], "num_speakers": 2, "rttm_path": str(tmp_path / "talk.rttm")}
    assert_not_yet(checks.check_forced_result(..., audio), "num_speakers=3", "3")
    line = assert_not_yet(checks.check_forced_result(two, audio), "num_speakers=3", "3")
    assert "2 speakers" in line
    assert checks.check_forced_result({**two, "num_speakers": 3}, audio)


def test_canvas_hints_do_not_spell_out_the_solution():
    """The old hint was the solution's code (app.signature(names.PING, ...) joined with chain)."""
    from celery import group

    from echonote import names
    from echonote.celery_app import app

    for wrong in (..., group(app.signature(names.PING)), [app.signature(names.PING)]):
        assert_not_yet(checks.check_canvas_by_name(wrong), "app.signature(names.PING", "chain(")


def test_a_check_that_trips_on_the_answer_still_answers_in_one_line():
    line = assert_not_yet(checks.check_partial_chord(object(), []))
    assert "AsyncResult" in line
    assert_not_yet(checks.check_talk_time({"Diane": "six"}, SEGMENTS[:1]))  # a TypeError inside the check


def test_feedback_renders_as_a_box_and_not_yet_as_one_line():
    box = checks.Feedback(False, "not yet — hint: <queues>")._repr_html_()
    assert "&lt;queues&gt;" in box and "<div" in box
    assert checks.NotYet("look at the queues")._render_traceback_() == ["not yet — hint: look at the queues"]


def test_checks_against_the_stack_hint_without_the_nodes_or_queues_they_expect(stack):
    """Real workers: the node names that consume 'diarization' never appear in the hint (the old one listed them)."""
    from echonote import names
    from echonote.celery_app import app
    from echonote.ops import monitor

    consuming = [w.node for w in monitor.workers() if names.DIARIZATION_QUEUE in w.queues]
    assert consuming
    assert_not_yet(checks.check_diarization_nodes(["someone@else"]), *consuming)
    assert_not_yet(checks.check_diarization_nodes([]), *consuming)
    # the default queue is consumed: a task sent there is no "queue nobody consumes"
    sent = app.send_task(names.PING, args=["x"], queue=names.DEFAULT_QUEUE)
    assert "consumes" in assert_not_yet(checks.check_unconsumed_queue(sent, names.DEFAULT_QUEUE))
    sent.get(timeout=30)
    assert_not_yet(checks.check_routed_to_own_worker(sent, names.DEFAULT_QUEUE))
    assert "no worker consumes" in assert_not_yet(checks.check_routed_to_own_worker(sent, "nobody-has-this"))


def test_exercise_notebooks_answer_blanks_with_not_yet_messages_not_tracebacks():
    """Each exercise notebook's blank cells and checks run in a real kernel: every check shows "not yet"."""
    from nbclient import NotebookClient

    assert NOTEBOOKS == ["01_task_names_vs_objects.ipynb", "02_launch_beat_and_worker.ipynb",
                         "03_submit_diarization_jobs.ipynb", "04_results_and_flower.ipynb", "05_transcripts.ipynb",
                         "06_workers_on_other_machines.ipynb"]
    # Stand-ins for what earlier cells compute (a file list, a result, a job): a blank answer is judged
    # before any of them is read, so the stack and the models are not needed here.
    cells = [nbformat.v4.new_code_cell(
        "from pathlib import Path\nfrom types import SimpleNamespace\n"
        "conversations = [Path('talk.wav')]\nresult = {'segments': [], 'words': []}\n"
        "job = SimpleNamespace(task_id='0')")]
    expected = 0
    for name in NOTEBOOKS:
        nb = nbformat.read(EXERCISES / name, as_version=4)
        blanks = [i for i, c in enumerate(nb.cells) if "exercise" in c.metadata.get("tags", [])]
        assert len(blanks) >= 2, f"{name}: {len(blanks)} exercise(s)"
        cells.append(nbformat.v4.new_code_cell("from echonote.lab import checks"))
        for i in blanks:
            cells += [nb.cells[i], nb.cells[i + 1]]
            expected += 1
    notebook = nbformat.v4.new_notebook(cells=cells)
    NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(ROOT / "notebooks")}}).execute(env=dict(os.environ))
    answers = [c for c in notebook.cells if "check" in c.metadata.get("tags", [])]
    assert len(answers) == expected >= 10
    for cell in answers:
        kinds = [out.output_type for out in cell.outputs]
        assert "error" not in kinds, cell.outputs  # no red traceback
        shown = [out.data for out in cell.outputs if out.output_type in ("execute_result", "display_data")]
        assert shown and shown[0]["text/plain"].startswith("not yet — hint: "), cell.outputs
        assert "<div" in shown[0]["text/html"] and "checks.py" not in str(cell.outputs), cell.outputs
