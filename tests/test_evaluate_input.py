"""``echonote evaluate`` on files that are not RTTM: one line naming the file and the format, exit 2.

Runs the real command in a subprocess on real files: the bundled sample's audio and reference
RTTM, and small text files of the kinds a user mixes up with RTTM.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pyannote.metrics", reason="evaluate needs the worker extra")

from echonote.results import samples  # noqa: E402

EXPECTED = "SPEAKER <uri> 1 <start> <duration> <NA> <NA> <speaker> <NA> <NA>"
ROOT = Path(__file__).resolve().parent.parent


def evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "echonote", "evaluate", *args], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=dict(os.environ))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sample")
    found = samples.pyannote_sample_dir()
    for ext in ("wav", "rttm"):
        shutil.copyfile(found / f"sample.{ext}", folder / f"sample.{ext}")
    return {"wav": folder / "sample.wav", "rttm": folder / "sample.rttm"}


BAD_TEXT = {
    "turns.csv": "start,end,speaker\n6.69,7.12,speaker90\n",
    "result.json": '{\n  "segments": [{"start": 6.69, "end": 7.12, "speaker": "speaker90"}]\n}\n',
    "short.rttm": "SPEAKER sample 1 6.690 0.430\n",
    "words.rttm": "SPEAKER sample 1 six 0.430 <NA> <NA> speaker90 <NA> <NA>\n",
    "negative.rttm": "SPEAKER sample 1 6.690 -0.430 <NA> <NA> speaker90 <NA> <NA>\n",
}


def assert_one_clear_line(done: subprocess.CompletedProcess, name: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert len(lines) == 1 and name in lines[0], done.stderr
    assert "Traceback" not in done.stderr and "tokenizing" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("name", sorted(BAD_TEXT))
def test_text_that_is_not_rttm_is_refused_in_one_line(sample, tmp_path, name):
    """A CSV, JSON or a SPEAKER line short of fields or numbers scored as no speech at all, or leaked pandas."""
    bad = tmp_path / name
    bad.write_text(BAD_TEXT[name])
    done = evaluate(str(bad), str(sample["rttm"]))
    assert_one_clear_line(done, name)
    assert EXPECTED in done.stderr and "line 1" in done.stderr


def test_bad_reference_is_refused_in_one_line(sample, tmp_path):
    bad = tmp_path / "turns.csv"
    bad.write_text(BAD_TEXT["turns.csv"])
    done = evaluate(str(sample["rttm"]), str(bad))
    assert_one_clear_line(done, "turns.csv")
    assert EXPECTED in done.stderr


def test_audio_given_as_rttm_is_refused_in_one_line(sample):
    """A WAV given as the hypothesis leaked pandas' "Error tokenizing data. C error"."""
    done = evaluate(str(sample["wav"]), str(sample["rttm"]))
    assert_one_clear_line(done, "sample.wav")
    assert "not an RTTM file" in done.stderr and EXPECTED in done.stderr


def test_empty_reference_is_refused_and_empty_hypothesis_scores_as_no_speech(sample, tmp_path):
    """An empty reference scored 100 % JER with exit 0; an empty hypothesis is a system that heard no one."""
    empty = tmp_path / "empty.rttm"
    empty.write_text("")
    assert_one_clear_line(evaluate(str(sample["rttm"]), str(empty)), "empty.rttm")
    done = evaluate(str(empty), str(sample["rttm"]), "--json")
    assert done.returncode == 0, done.stderr
    assert '"missed": 1.0' in done.stdout and '"der": 1.0' in done.stdout


def test_bad_uem_is_refused_in_one_line(sample, tmp_path):
    uem = tmp_path / "regions.uem"
    uem.write_text("sample 0 30\n")
    done = evaluate(str(sample["rttm"]), str(sample["rttm"]), "--uem", str(uem))
    assert_one_clear_line(done, "regions.uem")
    assert "<uri> 1 <start> <end>" in done.stderr


def test_good_rttm_still_scores(sample, tmp_path):
    """The reference against itself, and against a copy with one turn shifted: real figures, exit 0."""
    done = evaluate(str(sample["rttm"]), str(sample["rttm"]), "--json")
    assert done.returncode == 0, done.stderr
    assert '"der": 0.0' in done.stdout
    lines = sample["rttm"].read_text().splitlines()
    fields = lines[0].split()
    fields[7] = "someone_else"  # one turn given to a third speaker: confusion, not zero
    shifted = tmp_path / "hyp.rttm"
    shifted.write_text("\n".join([";; a comment line, as NIST's tools allow", " ".join(fields), *lines[1:]]) + "\n")
    uem = tmp_path / "all.uem"
    uem.write_text("sample 1 0.0 30.0\n")
    done = evaluate(str(shifted), str(sample["rttm"]), "--uem", str(uem))
    assert done.returncode == 0, done.stderr
    assert "DER" in done.stdout and "DER             0.00 %" not in done.stdout
