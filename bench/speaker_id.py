"""Named speakers: choose the identification threshold on data, then measure identification on the sample.

1. Pairs. Each speaker's solo speech (reference RTTM, overlap cut out, intersected with silero-vad's
   speech) is cut into snippets of about ``--snippet`` seconds, each embedded with CAM++ exactly as
   voiceprints and found speakers are (:func:`echonote.worker.voiceprints.embed_speech`). Two snippets
   of one speaker in one recording are a "same" pair; of two speakers, or of two recordings, a
   "different" pair. Sources: the real-dev recordings in ../shared/data/real-dev/ (skipped when absent)
   and synthetic espeak-ng conversations (echonote.testing.synth; pairs within a conversation only,
   since two conversations may draw the same espeak voice).
2. FAR (different pairs scored >= t) and FRR (same pairs scored < t) over thresholds: the equal-error
   point and the lowest threshold with FAR <= ``--max-far``. A wrong name is worse than no name (a
   speaker left SPEAKER_NN is still right), so the low-FAR point is the one chosen.
3. Target: on pyannote's sample, each reference speaker is enrolled from <= 8 s of their own solo speech
   (in the first half of the file where it holds at least the enrolment minimum, else their earliest
   solo speech: one speaker says only 1.6 s alone before 15 s), the whole file is diarized with
   ``--identify``, and pyannote.metrics' IdentificationErrorRate (collar 0, overlap scored, no label
   mapping) is reported. The "first half only" row takes the speech strictly from the first half,
   written as voiceprints directly since one of them is below enrolment's minimum.

    .venv/bin/python bench/speaker_id.py [--snippet 4] [--max-far 0.005] [--synthetic 3] [--write docs/speaker_id.md]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import private_stack_env, table  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL_DEV = ROOT.parent / "shared" / "data" / "real-dev"
ENROL_SECONDS = 8.0


def intersect(regions, speech):
    """Parts of ``regions`` inside ``speech`` (both sorted lists of (start, end))."""
    out = []
    for a, b in regions:
        for c, d in speech:
            lo, hi = max(a, c), min(b, d)
            if hi - lo > 0.05:
                out.append((lo, hi))
    return out


def take(regions, seconds: float):
    """The first ``seconds`` of speech of time-ordered ``regions``, and the rest."""
    taken, left, need = [], [], seconds
    for a, b in regions:
        if need <= 0:
            left.append((a, b))
        elif b - a <= need:
            taken.append((a, b))
            need -= b - a
        else:
            taken.append((a, a + need))
            left.append((a + need, b))
            need = 0
    return taken, left


def snippets(samples, segments, snippet: float, detector):
    """{speaker: [embedding, ...]}: each speaker's solo, voiced speech in snippets of ``snippet`` s."""
    from echonote.worker.voiceprints import embed_speech, solo_regions

    speech = detector.regions(samples)
    found = {}
    for speaker, regions in solo_regions(segments).items():
        left = intersect(sorted(regions), speech)
        while sum(b - a for a, b in left) >= snippet / 2:
            piece, left = take(left, snippet)
            vector = embed_speech(samples, piece)
            if vector is not None:
                found.setdefault(speaker, []).append(vector)
    return found


def pair_scores(sets: list[tuple[str, dict, bool]]):
    """(same, different) similarity lists; ``cross`` marks sets whose speakers differ from every other set's."""
    same, different = [], []
    for _, found, _ in sets:
        for (sa, va), (sb, vb) in itertools.combinations([(s, v) for s, vs in found.items() for v in vs], 2):
            (same if sa == sb else different).append(float(va @ vb))
    crossing = [found for _, found, cross in sets if cross]
    for fa, fb in itertools.combinations(crossing, 2):
        different += [float(va @ vb) for vs in fa.values() for va in vs for ws in fb.values() for vb in ws]
    return same, different


def rates(same, different, threshold):
    far = sum(s >= threshold for s in different) / max(1, len(different))
    frr = sum(s < threshold for s in same) / max(1, len(same))
    return far, frr


def choose(same, different, max_far):
    grid = [round(0.01 * i, 2) for i in range(101)]
    eer = min(grid, key=lambda t: abs(rates(same, different, t)[0] - rates(same, different, t)[1]))
    low = min(t for t in grid if rates(same, different, t)[0] <= max_far)
    return eer, low


def load_sets(args, detector):
    from echonote.results.plots import read_rttm
    from echonote.worker.audio import decode_audio

    sets = []
    if REAL_DEV.is_dir():
        for wav in sorted(REAL_DEV.glob("*.wav")):
            samples = decode_audio(wav, max_duration=None).waveform
            sets.append((f"real-dev/{wav.stem}", snippets(samples, read_rttm(wav.with_suffix(".rttm")),
                                                          args.snippet, detector), True))
    else:
        print(f"({REAL_DEV} not found: real-dev pairs skipped)", file=sys.stderr)
    if args.synthetic:
        from echonote.testing.synth import conversation_file

        out = Path(tempfile.mkdtemp(prefix="speaker-id-synth-"))
        for seed in range(args.synthetic):
            wav = conversation_file(out, f"synth{seed}", seed=100 + seed, duration=60.0, num_speakers=3,
                                    tract_spread=0.2)
            samples = decode_audio(wav, max_duration=None).waveform
            sets.append((f"synthetic/{wav.stem}", snippets(samples, read_rttm(wav.with_suffix(".rttm")),
                                                           args.snippet, detector), False))
    return sets


def enrol_clips(segments, duration, detector, samples, strict: bool = False):
    """Per reference speaker: the clips (<= 8 s of solo voiced speech) they are enrolled from. From the
    first half of the file; unless ``strict``, a speaker with less than the enrolment minimum there is
    enrolled from their earliest solo speech instead."""
    from echonote.worker.voiceprints import MIN_ENROL_SECONDS, solo_regions

    speech = detector.regions(samples)
    clips = {}
    for speaker, regions in solo_regions(segments).items():
        voiced = intersect(sorted(regions), speech)
        first_half = intersect(voiced, [(0.0, duration / 2)])
        enough = sum(b - a for a, b in first_half) >= MIN_ENROL_SECONDS
        clips[speaker], _ = take(first_half if strict or enough else voiced, ENROL_SECONDS)
    return clips


def save_below_minimum(user: str, clips, samples) -> None:
    """Voiceprints written directly, without enrol's minimum of speech (what the strict row measures)."""
    import json

    from echonote import db
    from echonote.worker.voiceprints import embed_speech, model_identity

    identity = model_identity()
    for speaker, regions in clips.items():
        vector = embed_speech(samples, regions)
        db.save_voiceprint(user, speaker, model_name=identity["name"], model_sha256=identity["sha256"],
                           embedding=json.dumps([float(x) for x in vector]),
                           speech_seconds=sum(b - a for a, b in regions))


def identification_target(user: str = "bench"):
    """IER on the sample: enrolled speakers vs none, the same diarization run for both."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.identification import IdentificationErrorRate

    from echonote import config
    from echonote.results.plots import read_rttm
    from echonote.results.samples import pyannote_sample_dir
    from echonote.worker.audio import decode_audio
    from echonote.worker.backend_options import diarization_options
    from echonote.worker.diarize_core import run_diarization
    from echonote.worker.speech_fill import SileroSpeech
    from echonote.worker.voiceprints import THRESHOLD, apply_identification, enroll

    folder = pyannote_sample_dir()
    wav, segments = folder / "sample.wav", read_rttm(folder / "sample.rttm")
    samples = decode_audio(wav).waveform
    duration = samples.size / 16_000
    detector = SileroSpeech()
    clips = enrol_clips(segments, duration, detector, samples)
    for speaker, regions in clips.items():
        enroll(speaker, [{"audio_path": str(wav), "start": a, "end": b} for a, b in regions], user, roots=[folder])
    strict = enrol_clips(segments, duration, detector, samples, strict=True)
    save_below_minimum(f"{user}-strict", strict, samples)
    cfg = config.load()
    plain = run_diarization(wav, backend="offline", backend_options=diarization_options("offline", cfg),
                            roots=[folder])

    def annotation(items):
        found = Annotation(uri="sample")
        for i, s in enumerate(items):
            found[Segment(s["start"], s["end"]), i] = s["speaker"]
        return found

    reference = annotation(segments)
    rows = []
    for label, result in (("no --identify", plain),
                          ("--identify, both enrolled", apply_identification(plain, samples, user)),
                          ("--identify, first half only", apply_identification(plain, samples, f"{user}-strict")),
                          ("--identify, none enrolled", apply_identification(plain, samples, "nobody"))):
        metric = IdentificationErrorRate(collar=0.0, skip_overlap=False)
        ier = metric(reference, annotation(result["segments"]), detailed=True)
        scores = ", ".join(f"{s['speaker']}={s['score']:.2f}" if s.get("score") is not None else s["speaker"]
                           for s in result["speakers"])
        total = ier["total"]
        rows.append([label, f"{100 * ier['identification error rate']:.1f} %", f"{100 * ier['confusion'] / total:.1f}",
                     f"{100 * ier['missed detection'] / total:.1f}", f"{100 * ier['false alarm'] / total:.1f}",
                     scores])
    spans = "; ".join(f"{s}: {sum(b - a for a, b in r):.1f} s in {r[0][0]:.1f}-{r[-1][1]:.1f} s"
                      + (f" (first half only: {sum(b - a for a, b in strict[s]):.1f} s)" if strict[s] != r else "")
                      for s, r in clips.items())
    return rows, spans, THRESHOLD


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--snippet", type=float, default=4.0, help="seconds of speech per embedded snippet")
    parser.add_argument("--max-far", type=float, default=0.005, help="false-accept rate the chosen threshold keeps")
    parser.add_argument("--synthetic", type=int, default=3, help="synthetic conversations (3 voices, 60 s each)")
    parser.add_argument("--write", type=Path, help="also write the tables as markdown to this file")
    args = parser.parse_args(argv)
    private_stack_env()  # a private database for the bench's voiceprints

    from echonote.worker.speech_fill import SileroSpeech
    from echonote.worker.voiceprints import THRESHOLD

    out: list[str] = []

    def say(text: str) -> None:
        print(text)
        out.append(text)

    sets = load_sets(args, SileroSpeech())
    same, different = pair_scores(sets)
    counts = [[name, str(len(found)), str(sum(len(v) for v in found.values()))] for name, found, _ in sets]
    say(table(["recording", "speakers", f"snippets of {args.snippet:g} s"], counts))
    say(f"\n{len(same)} same-speaker pairs, {len(different)} different-speaker pairs\n")
    eer, low = choose(same, different, args.max_far)
    rows = []
    for threshold in sorted({0.3, 0.4, 0.5, 0.6, 0.7, eer, low, THRESHOLD}):
        far, frr = rates(same, different, threshold)
        tags = [tag for tag, value in (("EER", eer), (f"FAR<={args.max_far:g}", low), ("in code", THRESHOLD))
                if value == threshold]
        rows.append([f"{threshold:.2f}", f"{100 * far:.1f} %", f"{100 * frr:.1f} %", " ".join(tags)])
    say(table(["threshold", "FAR", "FRR", ""], rows))
    by_source = []
    for source in ("real-dev", "synthetic"):
        part = [entry for entry in sets if entry[0].startswith(source)]
        s_same, s_different = pair_scores(part)
        far, frr = rates(s_same, s_different, THRESHOLD)
        by_source.append([source, str(len(s_same)), str(len(s_different)), f"{100 * far:.1f} %", f"{100 * frr:.1f} %"])
    say(f"\nAt the threshold in code ({THRESHOLD:.2f}), by source:\n")
    say(table(["pairs from", "same", "different", "FAR", "FRR"], by_source))
    target, spans, threshold = identification_target()
    say(f"\nIdentification on pyannote's sample (threshold {threshold:.2f}; enrolled from {spans}):\n")
    say(table(["run", "IER", "confusion %", "missed %", "false alarm %", "speakers (similarity)"], target))
    if args.write:
        command = "bench/speaker_id.py " + " ".join(argv if argv is not None else sys.argv[1:])
        args.write.write_text("# Named speakers: threshold and identification\n\nMeasured with `.venv/bin/python "
                              f"{command.strip()}` (CPU).\n\n" + "\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
