"""Diarization on your own recordings: a folder of ``NAME.wav`` + ``NAME.rttm`` pairs -> DER, speed, memory.

:func:`find_pairs` walks the folder (any audio type echonote accepts, optional
``NAME.uem``) and checks every reference; :func:`run_pairs` diarizes each file
in this process through the same code as ``echonote diarize --local``, models
loaded and warmed up first (:mod:`echonote.worker.benchmark_run`); :func:`summarise` scores the runs (DER and its parts
per collar, per file, their mean, and pooled over all files) and
:func:`format_table` prints them. ``bench/diarization.py`` scores other systems'
runs with the same functions. Light at import: pyannote, torch and numpy load
inside the functions that need them.
"""
from __future__ import annotations

import os
import resource
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from echonote.client.uploads import ALLOWED_SUFFIXES

__all__ = [
    "AUDIO_SUFFIXES",
    "BenchmarkError",
    "COLLARS",
    "FileRun",
    "Pair",
    "PeakMemory",
    "find_pairs",
    "format_table",
    "read_reference",
    "read_uem",
    "summarise",
    "timelines_of",
    "write_json",
    "write_png",
]

COLLARS = (0.0, 0.25)
#: audio types the worker decodes; ``.wav`` wins when a name has several
AUDIO_SUFFIXES = (".wav", *sorted(ALLOWED_SUFFIXES - {".wav"}))
EXPECTED_NAMING = (f"NAME.wav (or {', '.join(AUDIO_SUFFIXES[1:])}) next to NAME.rttm with its reference "
                   f"turns, optional NAME.uem for the scored regions")
WARM_UP_SECONDS = 20.0
Progress = Callable[[str], None]


class BenchmarkError(ValueError):
    """The folder or a file in it cannot be benchmarked; the message says which and what to fix."""


@dataclass(frozen=True)
class Pair:
    """One recording with its reference: segments ``{start, end, speaker}``, optional scored regions."""

    name: str
    audio: Path
    rttm: Path
    reference: list[dict]
    uem: Path | None = None
    regions: list[tuple[float, float]] | None = None

    @property
    def speakers(self) -> int:
        return len({s["speaker"] for s in self.reference})


@dataclass
class FileRun:
    """One system's output on one pair: its segments and what it cost."""

    pair: Pair
    segments: list[dict]
    duration: float  # audio seconds
    seconds: float  # processing seconds, models already loaded
    peak_rss_mb: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def speakers(self) -> int:
        return len({s["speaker"] for s in self.segments})


# --------------------------------------------------------------------------- the folder


def _fields(path: Path, min_fields: int, what: str):
    """Yield (line number, fields) of each non-blank, non-comment line; an unreadable file is a BenchmarkError."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BenchmarkError(f"{path}: cannot read it as text ({exc}); a {what} file is plain UTF-8 text.") from None
    for number, line in enumerate(text.splitlines(), start=1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < min_fields:
            raise BenchmarkError(f"{path}, line {number}: {len(parts)} fields, a {what} line needs at least "
                                 f"{min_fields}: {line.strip()[:80]!r}")
        yield number, parts


def _seconds(path: Path, number: int, value: str, what: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds >= 0 or seconds == float("inf"):
        raise BenchmarkError(f"{path}, line {number}: {what} {value!r} is not a number of seconds >= 0.")
    return seconds


def _one_file(path: Path, rows: list[tuple[str, object]], name: str, what: str) -> list:
    """Keep the rows of file ``name``; a file that describes exactly one other recording counts as ``name``."""
    uris = sorted({uri for uri, _ in rows})
    if name in uris:
        return [row for uri, row in rows if uri == name]
    if len(uris) == 1:
        return [row for _, row in rows]
    raise BenchmarkError(f"{path}: {what} for {', '.join(uris)}, none for {name!r}; "
                         f"the file id (2nd field) must be the audio file's name without its extension.")


def read_reference(path: str | Path, name: str | None = None) -> list[dict]:
    """Reference turns of recording ``name`` from an RTTM file (SPEAKER lines), checked line by line."""
    path = Path(path)
    rows = []
    for number, parts in _fields(path, 8, "RTTM SPEAKER"):
        if parts[0] != "SPEAKER":
            continue  # SPKR-INFO, LEXEME ...: not turns
        start = _seconds(path, number, parts[3], "start")
        length = _seconds(path, number, parts[4], "duration")
        rows.append((parts[1], {"start": start, "end": start + length, "speaker": parts[7]}))
    if not rows:
        raise BenchmarkError(f"{path}: no SPEAKER lines; each reference turn is a line "
                             f"'SPEAKER {name or 'NAME'} 1 START DURATION <NA> <NA> SPEAKER_ID <NA> <NA>'.")
    segments = _one_file(path, rows, name or rows[0][0], "turns")
    return sorted(segments, key=lambda s: (s["start"], s["end"], s["speaker"]))


def read_uem(path: str | Path, name: str | None = None) -> list[tuple[float, float]]:
    """Scored regions ``[(start, end)]`` of recording ``name`` from a UEM file (``NAME CHANNEL START END``)."""
    path = Path(path)
    rows = []
    for number, parts in _fields(path, 4, "UEM"):
        start = _seconds(path, number, parts[2], "start")
        end = _seconds(path, number, parts[3], "end")
        if end <= start:
            raise BenchmarkError(f"{path}, line {number}: end {parts[3]} is not after start {parts[2]}.")
        rows.append((parts[0], (start, end)))
    if not rows:
        raise BenchmarkError(f"{path}: no regions; a UEM line reads 'NAME 1 START END' (seconds).")
    return sorted(_one_file(path, rows, name or rows[0][0], "regions"))


def find_pairs(folder: str | Path, warn: Progress | None = None) -> list[Pair]:
    """Every ``NAME.<audio>`` + ``NAME.rttm`` pair in ``folder`` (not recursive), references checked.

    An RTTM without audio, or audio without an RTTM, is reported through ``warn`` and skipped.
    Raises :class:`BenchmarkError` when the folder is missing, holds no pair, or a reference is unreadable.
    """
    folder = Path(folder)
    warn = warn or (lambda message: None)
    if not folder.exists():
        raise BenchmarkError(f"{folder}: no such folder. Give a folder holding {EXPECTED_NAMING}.")
    if not folder.is_dir():
        raise BenchmarkError(f"{folder} is a file, not a folder. Give a folder holding {EXPECTED_NAMING}.")
    files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    audio: dict[str, Path] = {}
    for path in (p for suffix in AUDIO_SUFFIXES for p in files if p.suffix.lower() == suffix):
        if path.stem in audio:
            warn(f"{path.name}: ignored, {audio[path.stem].name} has the same name and is used")
            continue
        audio[path.stem] = path
    rttms = {p.stem: p for p in files if p.suffix.lower() == ".rttm"}
    for name in sorted(set(rttms) - set(audio)):
        warn(f"{rttms[name].name}: no audio file {name}.wav (or another audio type); skipped")
    for name in sorted(set(audio) - set(rttms)):
        warn(f"{audio[name].name}: no reference {name}.rttm; skipped")
    pairs = []
    for name in sorted(set(audio) & set(rttms)):
        uem = folder / f"{name}.uem"
        uem = uem if uem.is_file() else None
        pairs.append(Pair(name=name, audio=audio[name], rttm=rttms[name], reference=read_reference(rttms[name], name),
                          uem=uem, regions=read_uem(uem, name) if uem else None))
    if not pairs:
        found = ", ".join(p.name for p in files[:6]) + (" ..." if len(files) > 6 else "") if files else "nothing"
        raise BenchmarkError(f"no audio + reference pairs in {folder} (found: {found}). "
                             f"Expected {EXPECTED_NAMING}.")
    return pairs


# --------------------------------------------------------------------------- memory


class PeakMemory:
    """Peak resident memory of this process over a stretch of work.

    On Linux the kernel's high-water mark (VmHWM) is reset by writing "5" to
    /proc/self/clear_refs, so each file gets its own peak. Where that is not
    possible, ``ru_maxrss`` gives the peak since the process started (``method`` says which).
    """

    def __init__(self):
        self.method = "VmHWM" if self._clear() and self._vm_hwm_kb() is not None else "ru_maxrss"

    @staticmethod
    def _clear() -> bool:
        try:
            with open("/proc/self/clear_refs", "w") as fh:
                fh.write("5")
            return True
        except OSError:
            return False

    @staticmethod
    def _vm_hwm_kb() -> int | None:
        try:
            with open("/proc/self/status") as fh:
                for line in fh:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    @property
    def description(self) -> str:
        if self.method == "VmHWM":
            return "VmHWM, reset before each file (/proc/self/clear_refs)"
        return "ru_maxrss: peak of the whole process so far (per-file reset not possible here)"

    def reset(self) -> None:
        if self.method == "VmHWM":
            self._clear()

    def peak_mb(self) -> float:
        kb = self._vm_hwm_kb() if self.method == "VmHWM" else None
        if kb is None:
            kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kB on Linux
        return kb / 1024


# --------------------------------------------------------------------------- scoring


def _collar_key(collar: float) -> str:
    return f"{collar:g}"


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def summarise(runs: list[FileRun], collars=COLLARS) -> dict:
    """Per-file DER and parts at each collar, their mean over files, and the pooled (accumulated) total.

    Rates are fractions of reference speech (pyannote.metrics, overlap scored), within the UEM when given.
    """
    from pyannote.core import Segment, Timeline

    from echonote.results.der import evaluate, load_annotations

    references = {r.pair.name: load_annotations({"segments": r.pair.reference}, r.pair.name)[r.pair.name]
                  for r in runs}
    hypotheses = {r.pair.name: load_annotations({"segments": r.segments}, r.pair.name)[r.pair.name] for r in runs}
    uems = {r.pair.name: Timeline([Segment(a, b) for a, b in r.pair.regions]) for r in runs if r.pair.regions}
    parts = ("der", "missed", "false_alarm", "confusion")
    scored = {_collar_key(c): evaluate(references, hypotheses, uem=uems or None, collar=c) for c in collars}
    files = []
    for run in runs:
        files.append({
            "name": run.pair.name, "audio": str(run.pair.audio), "reference": str(run.pair.rttm),
            "uem": str(run.pair.uem) if run.pair.uem else None,
            "duration": round(run.duration, 3), "seconds": round(run.seconds, 3),
            "rtf": run.seconds / run.duration if run.duration else float("nan"),
            "peak_rss_mb": None if run.peak_rss_mb is None else round(run.peak_rss_mb, 1),
            "speakers_reference": run.pair.speakers, "speakers_found": run.speakers,
            "scores": {key: {p: s["files"][run.pair.name][p] for p in (*parts, "reference_speech")}
                       for key, s in scored.items()},
            "segments": run.segments, "reference_segments": run.pair.reference, **run.extra,
        })
    duration = sum(f["duration"] for f in files)
    seconds = sum(f["seconds"] for f in files)
    peaks = [f["peak_rss_mb"] for f in files if f["peak_rss_mb"] is not None]
    return {
        "collars": [float(c) for c in collars],
        "files": files,
        "mean": {"rtf": _mean([f["rtf"] for f in files]),
                 "scores": {key: {p: _mean([f["scores"][key][p] for f in files]) for p in parts} for key in scored}},
        "total": {"files": len(files), "duration": round(duration, 3), "seconds": round(seconds, 3),
                  "rtf": seconds / duration if duration else float("nan"), "peak_rss_mb": max(peaks, default=None),
                  "speaker_count_right": sum(f["speakers_found"] == f["speakers_reference"] for f in files),
                  "scores": {key: {p: s[p] for p in (*parts, "reference_speech")} for key, s in scored.items()}},
    }


# --------------------------------------------------------------------------- output


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def table_rows(report: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the benchmark table: one row per file, then ``mean`` and ``total``; "-" = not applicable."""
    keys = [_collar_key(c) for c in report["collars"]]
    header = ["file", "audio_s", "proc_s", "RTF", "peak_MB", "ref_spk", "found_spk"]
    header += [f"{part}@{key}" for key in keys for part in ("DER", "miss", "FA", "conf")]

    def scores(block: dict) -> list[str]:
        return [_pct(block[key][p]) for key in keys for p in ("der", "missed", "false_alarm", "confusion")]

    def peak(value) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [[f["name"], f"{f['duration']:.1f}", f"{f['seconds']:.2f}", f"{f['rtf']:.3f}", peak(f["peak_rss_mb"]),
             str(f["speakers_reference"]), str(f["speakers_found"]), *scores(f["scores"])] for f in report["files"]]
    mean, total = report["mean"], report["total"]
    rows.append(["mean", "-", "-", f"{mean['rtf']:.3f}", "-", "-", "-", *scores(mean["scores"])])
    rows.append(["total", f"{total['duration']:.1f}", f"{total['seconds']:.2f}", f"{total['rtf']:.3f}",
                 peak(total["peak_rss_mb"]), "-", "-", *scores(total["scores"])])
    return header, rows


def format_table(report: dict) -> str:
    """The benchmark table as aligned text: a header, a rule, the files, a rule, ``mean`` and ``total``."""
    header, rows = table_rows(report)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=False))
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs)

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows[:-2]), rule, *map(line, rows[-2:])])


def legend(report: dict, memory_method: str | None = None) -> str:
    """What the table's columns mean (printed under it)."""
    total = report["total"]
    lines = [
        "DER@c and its parts (miss = missed speech, FA = false alarm, conf = speaker confusion) in % of reference "
        "speech at collar c s (pyannote.metrics, overlap scored); mean = mean of the files, total = pooled over all.",
        "proc_s = wall-clock seconds to decode, diarize and write a file, models loaded and warmed up first; "
        "RTF = proc_s / audio_s; ref_spk / found_spk = speakers in the "
        f"reference / found (right on {total['speaker_count_right']} of {total['files']} files).",
    ]
    if memory_method:
        lines.append(f"peak_MB = peak resident memory of this process while the file ran ({memory_method}).")
    return "\n".join(lines)


def timelines_of(report: dict) -> list[dict]:
    """Items for :func:`echonote.results.plots.timelines_figure`: reference above hypothesis, one per file."""
    items = []
    for f in report["files"]:
        first = f["scores"][_collar_key(report["collars"][0])]["der"]
        items.append({"hypothesis": f["segments"], "reference": f.get("reference_segments"), "duration": f["duration"],
                      "title": f"{f['name']}: DER {_pct(first)} % (collar {report['collars'][0]:g} s), "
                               f"{f['speakers_found']} speaker(s) found, {f['speakers_reference']} in the reference"})
    return items


def environment() -> dict:
    """Where the numbers were measured: versions, CPU, threads."""
    import importlib.metadata as md
    import platform

    info = {"python": platform.python_version(), "platform": platform.platform(), "cpu_count": os.cpu_count()}
    try:
        info["echonote"] = md.version("echonote")
    except md.PackageNotFoundError:
        info["echonote"] = None
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info


def write_json(document: dict, path: str | Path) -> Path:
    """Write the benchmark document (report, backend, environment) as indented JSON."""
    import json

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return target


def write_png(report: dict, path: str | Path) -> Path:
    """One timeline per file, reference lanes above the hypothesis's, in one PNG (needs matplotlib)."""
    from echonote.results import plots

    return plots.save_figure(plots.timelines_figure(timelines_of(report)), path)
