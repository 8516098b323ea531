"""Every notebook runs top to bottom against a real stack, and every exercise check fails untouched, passes solved.

Each solution notebook is executed with nbclient in a kernel that gets this
test session's private settings (state dir, ports). After its last
non-cleanup cell, the exercise notebook's untouched cells are run in the same
kernel and each check must answer "not yet" as a message, never as an error;
then the cells tagged ``setup`` just before the solution and the solution are
run again and the check must pass; then the cleanup cells stop what the
notebook started.
"""
from __future__ import annotations

import copy
import json
import re
import time

import nbformat
import pytest
from nbclient import NotebookClient
from support.environments import ROOT, kernel_env
from support.probes import heavy_after

NOTEBOOKS = ROOT / "notebooks"
EXPECTED = [
    "01_task_names_vs_objects.ipynb",
    "02_launch_beat_and_worker.ipynb",
    "03_submit_diarization_jobs.ipynb",
    "04_results_and_flower.ipynb",
    "05_transcripts.ipynb",
    "06_workers_on_other_machines.ipynb",
]
CELL_TIMEOUT = 900
TIMINGS_FILE = ROOT / "test-artifacts" / "notebook-timings.json"


def record_timing(name: str, seconds: float) -> None:
    """Add one notebook's execution time to the timings file (other notebooks' times are kept)."""
    TIMINGS_FILE.parent.mkdir(exist_ok=True)
    timings = json.loads(TIMINGS_FILE.read_text()) if TIMINGS_FILE.exists() else {}
    timings[name] = round(seconds, 1)
    TIMINGS_FILE.write_text(json.dumps(dict(sorted(timings.items())), indent=2) + "\n")


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def text_of(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename')}: {out.get('evalue')}")
    return "".join(parts)


def setup_cells(cells, solution: int) -> list[int]:
    """Indexes of the code cells tagged ``setup`` right before a solution (markdown between them allowed)."""
    found, i = [], solution - 1
    while i >= 0 and (cells[i].cell_type == "markdown" or "setup" in tags(cells[i])):
        if cells[i].cell_type == "code":
            found.insert(0, i)
        i -= 1
    return found


def run_notebook(name: str) -> tuple[nbformat.NotebookNode, list[str]]:
    """Execute a solution notebook, then its exercise cells and checks; return it and the check messages."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    exercise = nbformat.read(NOTEBOOKS / "exercises" / name, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(NOTEBOOKS)}})
    messages: list[str] = []
    started = time.perf_counter()
    with client.setup_kernel(env=kernel_env()):
        client.wait_for_reply(client.kc.kernel_info())
        cleanup = [i for i, c in enumerate(nb.cells) if "cleanup" in tags(c)]
        for index, cell in enumerate(nb.cells):
            if index not in cleanup:
                client.execute_cell(cell, index)
        record_timing(name, time.perf_counter() - started)
        solved_cells = copy.deepcopy(nb.cells)
        for index, cell in enumerate(exercise.cells):
            if "exercise" not in tags(cell):
                continue
            check = copy.deepcopy(exercise.cells[index + 1])
            client.execute_cell(copy.deepcopy(cell), index)
            client.execute_cell(check, index + 1)     # raises CellExecutionError if the check raised
            said = text_of(check)
            assert said.startswith("not yet — hint: ") and "Traceback" not in said, said
            messages.append(said)
            for before in setup_cells(solved_cells, index):  # what the exercise acts on, made again
                client.execute_cell(copy.deepcopy(solved_cells[before]), before)
            solution, solved = copy.deepcopy(solved_cells[index]), copy.deepcopy(solved_cells[index + 1])
            client.execute_cell(solution, index)      # the solution again: the check passes
            client.execute_cell(solved, index + 1)    # (nbclient stores each executed cell back into nb)
            assert "well done" in text_of(solved), text_of(solved)
        for index in cleanup:
            client.execute_cell(nb.cells[index], index)
    return nb, messages


def outputs_text(nb) -> str:
    return "\n".join(text_of(c) for c in nb.cells if c.cell_type == "code")


def check_01(nb) -> None:
    text = outputs_text(nb)
    ours = next(line for line in text.splitlines() if line.startswith("echonote.celery_app (ours)"))
    eager = next(line for line in text.splitlines() if line.startswith("eager_app (anti-pattern)"))
    assert ours.rstrip().endswith("none") and "torch" not in ours, ours
    assert "torch" in eager and "pyannote.audio" in eager, eager
    assert "Received unregistered task of type 'echonote.ping'" in text
    assert "result state: FAILURE | NotRegistered" in text, text  # what the worker does with an unknown name
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "FAILURE" in prose and "stays `PENDING` forever" not in prose


def check_02(nb) -> None:
    text = outputs_text(nb)
    assert "reset seen after" in text and "Sending due task reset-daily-quotas" in text
    assert "the stack's beat: still running, same pid" in text, text  # the workshop beat ran beside it
    assert "inspect scheduled: {" in text and "echonote.ping" in text
    assert "worker-2@" in text.split("Flower /api/workers", 1)[1]


def check_03(nb) -> None:
    text = outputs_text(nb)
    lines = text.split("Results\n")[-1].splitlines()
    table = "\n".join(lines[:next((i for i, line in enumerate(lines) if not line.strip() or line.startswith("<")),
                                  len(lines))])
    header, _rule, *lines = table.splitlines()
    columns = re.split(r"\s{2,}", header.strip())
    rows = [dict(zip(columns, re.split(r"\s{2,}", line.strip()), strict=False)) for line in lines]
    by_file = {row["file"]: row for row in rows}
    assert sorted(by_file) == ["lab007_000.wav", "lab007_001.wav", "pyannote_sample.wav"], table
    assert all(row["status"] == "SUCCESS" for row in rows), table  # a failed job shows its reason here
    sample = by_file["pyannote_sample.wav"]
    assert (sample["speakers"], sample["reference speakers"]) == ("2", "2"), table


def check_04(nb) -> None:
    text = outputs_text(nb)
    flower_rows = text.split("task(s) in Flower", 1)[1]
    assert "echonote.diarize" in flower_rows and "echonote.ping" in flower_rows and "SUCCESS" in flower_rows
    assert "flower_events_total" in text
    default_view = next(line for line in text.splitlines() if "job(s) in the default view" in line)
    assert "echonote.diarize" in default_view and "echonote.ping" not in default_view, default_view
    assert sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", [])) >= 6
    assert_one_name_per_person(text)


def assert_one_name_per_person(text: str) -> None:
    """After the one line that says how labels were renamed, only the transcript's names appear."""
    renamed, after = text.split("renamed once:", 1)[1].split("\n", 1)
    assert "speaker90 → Diane" in renamed or "speaker90 → Sheila" in renamed, renamed
    assert "SPEAKER_0" in renamed, renamed
    assert "Diane" in after and "Sheila" in after, after
    assert "SPEAKER_0" not in after and "speaker9" not in after, after


def check_05(nb) -> None:
    text = outputs_text(nb)
    assert "header tasks: ['echonote.diarize', 'echonote.transcribe'] -> callback: echonote.attribute" in text
    wer = float(text.split("WER ", 1)[1].split(" %", 1)[0])
    assert wer <= 30, text
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells for o in c.get("outputs", []))
    assert html.count("<b style=") >= 2 and "Diane" in html and "Sheila" in html, html[:500]
    assert "SPEAKER_0" not in html and "speaker9" not in html, html[:500]
    assert_one_name_per_person(text)
    named = text.split("chain: echonote.diarize | echonote.identify_speakers", 1)[1]  # voiceprints, no reference
    assert "enrolled Diane" in text and "enrolled Sheila" in text
    assert re.search(r"Diane .* similarity 0\.\d\d", named) and re.search(r"Sheila .* similarity 0\.\d\d", named)
    assert "the chain named them the same: True" in named, named


def check_06(nb) -> None:
    text = outputs_text(nb)
    assert "settings that name a folder of this kernel: none" in text, text[:2000]
    carried = next(line for line in text.splitlines() if line.startswith("the message carried:"))
    assert "'audio_path': 's3://" in carried and "secret" not in carried.lower(), carried
    assert "outputs in the store: s3://" in text and "/results/" in text, text[:2000]
    flower = text.split("Flower's view of the job", 1)[1]
    assert "worker-remote@" in flower and "SUCCESS" in flower and "s3://" in flower, flower[:1000]
    cached = text.split("file on the other machine", 1)[1].split("bytes in the message", 1)[0]
    assert "object-cache" in cached and "uploads" not in cached, cached[:1000]
    ratio = float(text.split("bytes in the message: ", 1)[1].split("x the broker memory", 1)[0].replace(",", ""))
    assert ratio > 100, text  # 30 s of audio is ~1 MB; the URI message well under 2 KB
    weights = text.split("what one job puts through Redis", 1)[1]
    uri_row = next(line for line in weights.splitlines() if line.startswith("URI"))
    assert int(re.split(r"\s{2,}", uri_row)[2]) < 2048, uri_row  # "in Redis (bytes)"


KEY_OUTPUTS = dict(zip(EXPECTED, (check_01, check_02, check_03, check_04, check_05, check_06), strict=True))


def test_the_notebooks_are_the_six_expected_and_exercises_are_fresh():
    """Guards against a glob that matches nothing (a notebook test that always passes)."""
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) == EXPECTED
    assert sorted(p.name for p in (NOTEBOOKS / "exercises").glob("*.ipynb")) == EXPECTED
    import subprocess
    import sys

    made = subprocess.run([sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--check"],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr


def test_lab_helpers_stay_light():
    """The notebook helpers are clients: importing them loads no torch, numpy or worker code."""
    helpers = ("echonote.lab.session, echonote.lab.panel, echonote.lab.flower_view, echonote.lab.checks, "
               "echonote.lab.footprint, echonote.lab.inspect_view, echonote.lab.data, echonote.results.plots, "
               "echonote.lab.message_weight, echonote.lab.other_machine, echonote.lab.store_view")
    assert heavy_after(f"import {helpers}") == []


@pytest.mark.slow
@pytest.mark.parametrize("name", EXPECTED)
def test_notebook_runs_top_to_bottom_and_its_exercises_check(stack, name):
    nb, not_yet = run_notebook(name)
    assert not_yet, f"{name} has no exercise check"
    KEY_OUTPUTS[name](nb)


def test_every_notebook_is_executed_and_checked():
    """The run test covers exactly the notebooks on disk, each with its key-output check (no run is skipped)."""
    [runs] = [m for m in test_notebook_runs_top_to_bottom_and_its_exercises_check.pytestmark if m.name == "parametrize"]
    assert list(runs.args[1]) == EXPECTED == sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert list(KEY_OUTPUTS) == EXPECTED


def test_labels_map_each_person_once_by_the_best_assignment_not_the_greedy_one():
    """Notebooks 04/05 showed one person under three labels; the mapping they now use is optimal, not greedy."""
    from echonote.lab import labels
    from echonote.results import plots

    hyp = [{"start": 0, "end": 10, "speaker": "A"}, {"start": 10, "end": 19, "speaker": "A"},
           {"start": 19, "end": 27, "speaker": "B"}]
    ref = [{"start": 0, "end": 10, "speaker": "X"}, {"start": 10, "end": 19, "speaker": "Y"},
           {"start": 19, "end": 27, "speaker": "X"}]
    assert plots.map_speakers(hyp, ref) == {"A": "X", "B": "B"}  # greedy: 10 s agree
    assert labels.best_mapping(hyp, ref) == {"A": "Y", "B": "X"}  # 17 s agree

    result = {"segments": hyp, "words": [{"word": "hi", "speaker": "B"}, {"word": "uh", "speaker": None}],
              "utterances": [{"start": 19, "end": 27, "speaker": "B", "text": "hi"}],
              "speakers": [{"speaker": "A", "speech": 19.0}, {"speaker": "B", "speech": 8.0}]}
    renamed = labels.relabel_result(result, {"A": "Y", "B": "X"})
    assert [s["speaker"] for s in renamed["segments"]] == ["Y", "Y", "X"]
    assert [w["speaker"] for w in renamed["words"]] == ["X", None]
    assert renamed["utterances"][0]["speaker"] == "X"
    assert renamed["speakers"] == [{"speaker": "Y", "speech": 19.0}, {"speaker": "X", "speech": 8.0}]
    assert result["segments"][0]["speaker"] == "A"  # the task's result itself is left as it was


def test_the_sample_reference_is_named_after_its_transcript():
    from echonote.lab import labels
    from echonote.results import samples

    sample = samples.ensure_pyannote_sample()
    turns, mapping = labels.named_reference(sample["rttm"], sample["stm"])
    assert sorted(mapping) == ["speaker90", "speaker91"] and sorted(mapping.values()) == ["Diane", "Sheila"]
    assert {t["speaker"] for t in turns} == {"Diane", "Sheila"}
    first = min(turns, key=lambda t: t["start"])
    assert first["speaker"] == "Diane"  # the STM's first line: Diane says "Hello?" at 6.68 s
