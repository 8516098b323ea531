"""Speaker-attributed transcription on pyannote's sample: WER, speaker accuracy and speed, side by side.

Rows, measured in one process, warm (each model runs once before timing), interleaved:
  - plain faster-whisper tiny.en called directly (int8, beam 5, word timestamps, no VAD);
  - echonote's pipeline: the ``offline`` ASR backend (the same model + VAD) and the ``offline``
    diarization, merged by ``echonote.results.attribution``;
  - the same transcript attributed with the reference diarization (the ceiling attribution can reach);
  - ``--model DIR_OR_NAME``: a larger faster-whisper model, when one is on this machine.
Speaker accuracy = share of aligned reference words (hits + substitutions of the WER alignment)
whose speaker matches after the best speaker mapping. Canvas RTF = (max(diarize, transcribe) +
attribute) / duration: diarize and transcribe run in parallel in the canvas.

    .venv/bin/python bench/transcription.py [--repeats 2] [--model DIR] [--write docs/transcription.md]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def plain_faster_whisper(model, waveform) -> list[dict]:
    """faster-whisper as a user would call it: beam 5, word timestamps, nothing else."""
    segments, _ = model.transcribe(waveform, beam_size=5, word_timestamps=True, language="en")
    return [{"start": w.start, "end": w.end, "word": w.word.strip()} for s in segments for w in s.words or ()
            if w.word.strip()]


def timed(function, *args, **kwargs):
    """(value, wall seconds, CPU seconds of this process) of one call."""
    started, cpu = time.perf_counter(), time.process_time()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started, time.process_time() - cpu


def reference_segments(rttm: Path) -> list[dict]:
    segments = []
    for line in rttm.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, length = float(fields[3]), float(fields[4])
            segments.append({"start": start, "end": start + length, "speaker": fields[7]})
    return segments


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per system (median reported)")
    parser.add_argument("--model", help="a larger faster-whisper model folder (or cached name) to add as a row")
    parser.add_argument("--write", type=Path, help="also write the results as markdown to this file")
    args = parser.parse_args()

    import faster_whisper

    from echonote.results.attribution import attribute
    from echonote.results.samples import pyannote_sample_dir
    from echonote.results.scoring import score_transcript
    from echonote.worker.asr import get_backend
    from echonote.worker.asr.whisper import bundled_model_dir
    from echonote.worker.audio import decode_audio
    from echonote.worker.diarize_core import run_diarization
    from echonote.worker.transcribe_core import run_transcription

    sample = pyannote_sample_dir()
    wav, stm = sample / "sample.wav", sample / "sample.stm"
    duration = decode_audio(wav).duration
    waveform = decode_audio(wav).waveform
    plain_model = faster_whisper.WhisperModel(str(bundled_model_dir()), device="cpu", compute_type="int8")
    systems = {"plain": lambda: plain_faster_whisper(plain_model, waveform),
               "ours": lambda: run_transcription(wav)["words"],
               "diarize": lambda: run_diarization(wav)["segments"]}
    if args.model:
        get_backend("whisper", model=args.model, allow_download=False)
        systems["larger"] = lambda: run_transcription(wav, backend="whisper",
                                                      backend_options={"model": args.model,
                                                                       "allow_download": False})["words"]
    outputs, seconds, cpu = {}, {name: [] for name in systems}, {name: [] for name in systems}
    for name, run in systems.items():  # warm-up: loads every model once
        outputs[name] = run()
    for _ in range(args.repeats):
        for name, run in systems.items():
            outputs[name], elapsed, used = timed(run)
            seconds[name].append(elapsed)
            cpu[name].append(used)
    rtf = {name: statistics.median(values) / duration for name, values in seconds.items()}

    diarization = outputs["diarize"]
    attributed, attribute_seconds, _ = timed(attribute, outputs["ours"], diarization)
    scores = {
        "plain": score_transcript(attribute(outputs["plain"], diarization)["words"], stm),
        "ours": score_transcript(attributed["words"], stm),
        "oracle": score_transcript(attribute(outputs["ours"], reference_segments(sample / "sample.rttm"))["words"],
                                   stm),
    }
    if "larger" in outputs:
        scores["larger"] = score_transcript(attribute(outputs["larger"], diarization)["words"], stm)
    canvas = (max(statistics.median(seconds["diarize"]), statistics.median(seconds["ours"])) + attribute_seconds)

    def row(label, key, rtf_key):
        score = scores[key]
        speakers = score["speakers"]
        return [label, f"{100 * score['wer']:.1f} %", f"{100 * speakers['accuracy_aligned']:.1f} %",
                f"{speakers['correct']}/{speakers['aligned']}", f"{100 * speakers['accuracy_reference']:.1f} %",
                f"{rtf[rtf_key]:.3f}" if rtf_key else "—"]

    rows = [row("plain faster-whisper tiny.en (beam 5, no VAD) + our diarization", "plain", "plain"),
            row("echonote: offline ASR (tiny.en + VAD) + offline diarization", "ours", "ours"),
            row("echonote ASR + reference diarization (attribution ceiling)", "oracle", None)]
    if "larger" in scores:
        rows.append(row(f"whisper backend, {args.model} + offline diarization", "larger", "larger"))
    header = ["system", "WER", "speaker acc. (aligned)", "words", "speaker acc. (all ref.)", "ASR RTF"]
    def timing(label, name):
        wall, used = statistics.median(seconds[name]), statistics.median(cpu[name])
        return [label, f"{wall:.2f}", f"{rtf[name]:.3f}", f"{used:.2f}", f"{used / duration:.3f}"]

    timing_rows = [timing("diarize (offline)", "diarize"), timing("transcribe (offline backend)", "ours"),
                   timing("transcribe (plain call)", "plain"),
                   ["attribute", f"{attribute_seconds:.4f}", f"{attribute_seconds / duration:.5f}", "", ""],
                   ["canvas: max(diarize, transcribe) + attribute", f"{canvas:.2f}", f"{canvas / duration:.3f}",
                    "", ""]]
    goals = [
        f"WER no worse than the plain call: {'met' if scores['ours']['wer'] <= scores['plain']['wer'] else 'NOT met'}",
        f"speaker attribution >= 95 % of aligned words: "
        f"{'met' if scores['ours']['speakers']['accuracy_aligned'] >= 0.95 else 'NOT met'}",
        f"canvas RTF <= 0.15 warm: {'met' if canvas / duration <= 0.15 else 'NOT met'} ({canvas / duration:.3f})",
    ]
    larger = "" if args.model else ("The other bundled model, Whisper base, runs other languages; "
                                    "bench/multilingual.py sets it beside tiny.en (below). Pass --model DIR to add "
                                    "a larger model here.")
    load = os.getloadavg()
    report = "\n\n".join([
        f"pyannote sample: {duration:.1f} s, {scores['ours']['reference_words']} reference words; "
        f"{args.repeats} timed runs each (median), {os.cpu_count()} CPUs, load average {load[0]:.1f} at the end",
        table(header, rows),
        table(["stage", "wall s", "RTF (wall)", "CPU s", "CPU s per audio s"], timing_rows),
        "\n".join("- " + goal for goal in goals),
        larger,
    ]).strip()
    print(report)
    if args.write:
        args.write.parent.mkdir(parents=True, exist_ok=True)
        previous = args.write.read_text() if args.write.is_file() else ""
        kept = previous.partition("\n## Other languages\n")  # bench/multilingual.py's section stays
        args.write.write_text(report + "\n" + (f"\n## Other languages\n{kept[2]}" if kept[1] else ""))
        print(f"\nwritten to {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
