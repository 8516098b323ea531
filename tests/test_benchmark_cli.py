"""``echonote benchmark DIR``: a folder of recordings with references -> per-file table, JSON, PNG, RTTM.

The slow tests run the real command once on two short synthetic conversations the
module builds (espeak-ng), one of them with a UEM, next to an RTTM that has no audio
and a pair whose audio does not decode.
"""
from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from support.probes import heavy_after

ROOT = Path(__file__).resolve().parent.parent
HEADER = ["file", "audio_s", "proc_s", "RTF", "peak_MB", "ref_spk", "found_spk",
          "DER@0", "miss@0", "FA@0", "conf@0", "DER@0.25", "miss@0.25", "FA@0.25", "conf@0.25"]
UEM_END = 10.0


def echonote(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "echonote", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=dict(os.environ))


def one_error_line(result: subprocess.CompletedProcess) -> str:
    """The single ``error:`` line of a failed command (warnings may precede it); a traceback fails the test."""
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def speakers_in(rttm: Path) -> int:
    return len({line.split()[7] for line in rttm.read_text().splitlines() if line.startswith("SPEAKER")})


# --------------------------------------------------------------------------- bad input: fast, no models


def test_missing_folder_is_one_line_and_exit_2(tmp_path):
    result = echonote("benchmark", str(tmp_path / "nowhere"))
    line = one_error_line(result)
    assert result.returncode == 2 and "no such folder" in line and "NAME.wav" in line and "NAME.rttm" in line
    assert result.stdout == ""


def test_a_file_is_not_a_folder(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"RIFF")
    result = echonote("benchmark", str(tmp_path / "a.wav"))
    assert result.returncode == 2 and "is a file, not a folder" in one_error_line(result)


def test_folder_without_pairs_says_what_naming_is_expected(tmp_path):
    (tmp_path / "talk.wav").write_bytes(b"RIFF")
    (tmp_path / "other.rttm").write_text("SPEAKER other 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    (tmp_path / "notes.txt").write_text("not audio")
    result = echonote("benchmark", str(tmp_path))
    line = one_error_line(result)
    assert result.returncode == 2
    assert "no audio + reference pairs" in line and "NAME.wav" in line and "NAME.rttm" in line
    assert "talk.wav: no reference talk.rttm; skipped" in result.stderr
    assert "other.rttm: no audio file other.wav" in result.stderr


def test_unreadable_rttm_names_the_file_and_line(tmp_path):
    (tmp_path / "talk.flac").write_bytes(b"fLaC")
    (tmp_path / "talk.rttm").write_text("SPEAKER talk 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n"
                                        "SPEAKER talk 1 2.0 one <NA> <NA> B <NA> <NA>\n")
    result = echonote("benchmark", str(tmp_path))
    line = one_error_line(result)
    assert result.returncode == 2 and "talk.rttm, line 2" in line and "'one'" in line


def test_import_is_light():
    """bench scripts and the CLI import the module; models and numerics load only when a run starts."""
    assert heavy_after("import echonote.results.benchmark, echonote.cli", also=("matplotlib",), cwd=ROOT) == []


def test_pairs_any_audio_type_and_prefers_wav(tmp_path):
    from echonote.results.benchmark import find_pairs

    turn = "SPEAKER {0} 1 0.5 2.0 <NA> <NA> A <NA> <NA>\n"
    for name in ("a", "b"):
        (tmp_path / f"{name}.rttm").write_text(turn.format(name))
    for audio in ("a.mp3", "a.wav", "b.flac"):
        (tmp_path / audio).write_bytes(b"x")
    (tmp_path / "b.uem").write_text("b 1 0.0 1.5\n")
    warnings = []
    pairs = find_pairs(tmp_path, warn=warnings.append)
    assert [(p.name, p.audio.name) for p in pairs] == [("a", "a.wav"), ("b", "b.flac")]
    assert warnings == ["a.mp3: ignored, a.wav has the same name and is used"]
    assert pairs[0].uem is None and pairs[1].regions == [(0.0, 1.5)]
    assert pairs[1].reference == [{"start": 0.5, "end": 2.5, "speaker": "A"}]


def test_mean_is_per_file_and_total_is_pooled():
    """A short file with a large error weighs as much as a long one in the mean, by its speech in the total."""
    pytest.importorskip("pyannote.metrics")
    from echonote.results.benchmark import FileRun, Pair, format_table, summarise

    long = Pair("long", Path("long.wav"), Path("long.rttm"), [{"start": 0.0, "end": 10.0, "speaker": "A"}])
    short = Pair("short", Path("short.wav"), Path("short.rttm"), [{"start": 0.0, "end": 1.0, "speaker": "A"}])
    runs = [FileRun(long, [{"start": 0.0, "end": 9.0, "speaker": "x"}], 10.0, 1.0, 100.0),  # 1 s missed
            FileRun(short, [], 1.0, 0.5, 120.0)]  # all missed
    report = summarise(runs)
    assert report["files"][0]["scores"]["0"]["der"] == pytest.approx(0.1)
    assert report["files"][1]["scores"]["0"]["missed"] == pytest.approx(1.0)
    assert report["mean"]["scores"]["0"]["der"] == pytest.approx(0.55)
    assert report["total"]["scores"]["0"]["der"] == pytest.approx(2 / 11)
    assert report["total"]["rtf"] == pytest.approx(1.5 / 11) and report["mean"]["rtf"] == pytest.approx(0.3)
    assert report["total"]["peak_rss_mb"] == 120.0 and report["total"]["speaker_count_right"] == 1
    lines = format_table(report).splitlines()
    assert lines[0].split() == HEADER and set(lines[1]) == {"-"} and set(lines[4]) == {"-"}
    assert lines[5].split()[:4] == ["mean", "-", "-", "0.300"] and lines[5].split()[7] == "55.0"
    assert lines[6].split()[:5] == ["total", "11.0", "1.50", "0.136", "120"] and lines[6].split()[7] == "18.2"


def test_peak_memory_is_reset_per_stretch_of_work():
    """Measured in a fresh interpreter: a test process that loaded models earlier (its allocator tuned, arenas
    kept) does not hand 50 MB back to the kernel on ``del``, which is not what this checks."""
    pytest.importorskip("numpy")
    probe = (
        "import numpy as np\n"
        "from echonote.results.benchmark import PeakMemory\n"
        "memory = PeakMemory()\n"
        "if memory.method != 'VmHWM':\n"
        "    print('unsupported'); raise SystemExit\n"
        "memory.reset()\n"
        "block = np.ones(50_000_000, dtype=np.uint8)  # 50 MB, touched\n"
        "with_block = memory.peak_mb()\n"
        "del block\n"
        "memory.reset()\n"
        "print(with_block - memory.peak_mb())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    if out.stdout.strip() == "unsupported":
        pytest.skip("this kernel does not let a process reset its RSS high-water mark")
    assert float(out.stdout) > 40


# --------------------------------------------------------------------------- the real command


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); it voices the synthetic files")
    pytest.importorskip("torch", reason="the benchmark needs the worker extra: pip install 'echonote[worker]'")
    from echonote.testing.synth import generate_set

    out = tmp_path_factory.mktemp("bench")
    entries = generate_set(out, 2, seed=11, duration=15.0)
    first = entries[0]["uri"]
    (out / f"{first}.uem").write_text(f"{first} 1 0.000 {UEM_END:.3f}\n")
    (out / "orphan.rttm").write_text("SPEAKER orphan 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    (out / "broken.wav").write_bytes(b"RIFF" + bytes(200))  # sorts first: the warm-up must pass it over
    (out / "broken.rttm").write_text("SPEAKER broken 1 0.0 1.0 <NA> <NA> A <NA> <NA>\n")
    return out


@pytest.fixture(scope="module")
def run(folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-out")
    result = echonote("benchmark", str(folder), "--json", str(out / "bench.json"), "--png", str(out / "bench.png"),
                      "--rttm-dir", str(out / "hyp"), timeout=1200)
    assert result.returncode == 1, result.stderr  # the broken file failed; the others were scored
    return result, out


@pytest.mark.slow
def test_table_has_a_row_per_file_then_mean_and_total(folder, run):
    result, _ = run
    names = sorted(p.stem for p in folder.glob("synth*.wav"))
    lines = result.stdout.splitlines()
    assert lines[0].split() == HEADER
    assert set(lines[1]) == {"-"} and set(lines[4]) == {"-"} and len(lines[1]) == len(lines[0].rstrip())
    rows = [line.split() for line in lines[2:4]]
    mean, total = lines[5].split(), lines[6].split()
    assert [row[0] for row in rows] == names and mean[0] == "mean" and total[0] == "total"
    for row in rows:
        assert len(row) == len(HEADER)
        values = dict(zip(HEADER[1:], map(float, row[1:]), strict=True))
        assert int(row[5]) == speakers_in(folder / f"{row[0]}.rttm") and int(row[6]) >= 1
        assert 10 < values["audio_s"] < 40 and values["proc_s"] > 0 and values["peak_MB"] > 100
        # the cells are rounded
        assert values["RTF"] == pytest.approx(values["proc_s"] / values["audio_s"], rel=0.01, abs=0.002)
        for collar in ("0", "0.25"):
            parts = sum(values[f"{p}@{collar}"] for p in ("miss", "FA", "conf"))
            assert values[f"DER@{collar}"] == pytest.approx(parts, abs=0.15)
    assert len(mean) == len(total) == len(HEADER)
    assert float(mean[7]) == pytest.approx(sum(float(row[7]) for row in rows) / 2, abs=0.1)
    assert float(total[1]) == pytest.approx(sum(float(row[1]) for row in rows), abs=0.1)
    assert float(total[4]) == max(float(row[4]) for row in rows)
    assert any(line.startswith("DER@c and its parts") for line in lines[7:])


@pytest.mark.slow
def test_progress_and_skips_go_to_stderr(run):
    result, _ = run
    assert "warning: orphan.rttm: no audio file orphan.wav" in result.stderr
    assert "models loaded and warmed up" in result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("[")]
    assert [line[:5] for line in progress] == ["[1/3]", "[2/3]", "[3/3]"]
    assert progress[0].startswith("[1/3] broken: failed: ") and "broken.wav" in progress[0]
    assert "broken: failed: " in result.stderr.splitlines()[-1]


@pytest.mark.slow
def test_json_holds_files_summary_and_backend(folder, run):
    _, out = run
    doc = json.loads((out / "bench.json").read_text())
    assert [f["name"] for f in doc["files"]] == sorted(p.stem for p in folder.glob("synth*.wav"))
    for f in doc["files"]:
        assert set(f["scores"]) == {"0", "0.25"}
        for scores in f["scores"].values():
            assert all(0.0 <= scores[k] <= 1.0 for k in ("der", "missed", "false_alarm", "confusion"))
        assert f["rtf"] > 0 and f["peak_rss_mb"] > 0
        assert f["speakers_found"] == len({s["speaker"] for s in f["segments"]})
        assert f["speakers_reference"] == speakers_in(folder / f"{f['name']}.rttm")
        assert f["timings"]["model_load"] == pytest.approx(0.0, abs=0.05)  # warmed up: no file pays for loading
    assert set(doc["mean"]["scores"]) == set(doc["total"]["scores"]) == {"0", "0.25"}
    assert 0.0 <= doc["total"]["scores"]["0"]["der"] <= 1.0 and doc["total"]["rtf"] > 0
    assert doc["total"]["duration"] == pytest.approx(sum(f["duration"] for f in doc["files"]), abs=0.01)
    assert doc["backend"]["backend"] == "offline" and "pyannote.audio" in doc["backend"]["versions"]
    assert doc["backend"]["parameters"] and doc["warm_up"]["model_load_seconds"] > 0
    assert doc["peak_rss_method"].startswith(("VmHWM", "ru_maxrss")) and doc["warm_up"]["file"] != "broken"
    assert [f["name"] for f in doc["failed"]] == ["broken"] and "broken.wav" in doc["failed"][0]["error"]


@pytest.mark.slow
def test_uem_limits_what_is_scored(folder, run):
    _, out = run
    doc = json.loads((out / "bench.json").read_text())
    with_uem, without = doc["files"]
    assert with_uem["uem"] and not without["uem"]
    speech_after = sum(max(0.0, s["end"] - max(s["start"], UEM_END)) for s in with_uem["reference_segments"])
    assert speech_after > 1.0  # otherwise the UEM would change nothing
    assert 0 < with_uem["scores"]["0"]["reference_speech"] <= UEM_END


@pytest.mark.slow
def test_png_has_one_timeline_per_file(run):
    from echonote.results import plots
    from echonote.results.benchmark import timelines_of

    _, out = run
    data = (out / "bench.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    doc = json.loads((out / "bench.json").read_text())
    fig = plots.timelines_figure(timelines_of(doc))
    assert len(fig.axes) == 2 and [ax.get_title().split(":")[0] for ax in fig.axes] == [f["name"] for f in doc["files"]]
    assert (width, height) == tuple(round(v * 120) for v in fig.get_size_inches())
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert labels[0].startswith("reference: ") and labels[-1].startswith("hypothesis: ")


@pytest.mark.slow
def test_hypothesis_rttm_per_file(folder, run):
    _, out = run
    doc = json.loads((out / "bench.json").read_text())
    for f in doc["files"]:
        lines = (out / "hyp" / f"{f['name']}.rttm").read_text().splitlines()
        assert len(lines) == len(f["segments"]) and all(line.split()[1] == f["name"] for line in lines)
