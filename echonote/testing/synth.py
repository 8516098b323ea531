"""Deterministic synthetic meetings for testing diarization: espeak-ng voices with known turns.

Each conversation has 2-5 speakers, each a distinct espeak-ng voice (accent,
variant, pitch, speed and level), talking in turns separated by pauses, with
some overlapping turns and short backchannels ("yeah", "right") spoken over
the current speaker, and optional background noise. The same seed always gives
the same files. For every conversation it writes ``<uri>.wav`` (16 kHz mono),
``<uri>.rttm`` (reference turns, from the voiced regions of each utterance),
``<uri>.stm`` (transcript), and a ``manifest.json`` for the whole set.

Needs the ``espeak-ng`` program (Debian: ``apt-get install espeak-ng``).

    python -m echonote.testing.synth --out data/synth --n 10 --seed 0
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from echonote.testing.phrasebooks import GERMAN, SPANISH, Phrasebook

__all__ = ["PHRASEBOOKS", "Voice", "Turn", "conversation_file", "far_away", "generate_conversation", "generate_set",
           "main"]

SAMPLE_RATE = 16_000
ACCENTS = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029",
           "en-us-nyc"]
VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5", "adam", "Alex", "Andy",
            "belinda", "benjamin", "caleb", "david", "edward", "linda", "max", "Annie", "john"]
SUBJECTS = ["the budget", "the release", "our roadmap", "the customer survey", "the new office", "the backlog",
            "the test results", "the marketing plan", "next quarter", "the hiring plan", "the server costs",
            "the design review", "the training schedule", "the audit", "the migration"]
OPENERS = ["I think", "Honestly,", "From my side,", "As far as I know,", "To be fair,", "If you ask me,",
           "Just to be clear,", "Well,", "So,", "Right, so", "Actually,", "In my view,"]
CLAIMS = ["{s} looks fine for now", "we should look at {s} again next week", "{s} is behind schedule",
          "nobody has signed off on {s} yet", "{s} needs another pair of eyes", "we could simplify {s} a lot",
          "{s} went better than expected", "I would not change {s} before the deadline",
          "the numbers for {s} do not add up", "we agreed to postpone {s}", "{s} depends on the other team",
          "I can take care of {s} myself", "we need more data on {s}", "{s} is the main risk this month"]
FOLLOWS = ["Does that make sense?", "What do you all think?", "Let us put it in the notes.",
           "I can send a summary afterwards.", "We can discuss the details offline.",
           "That is all from me.", "Any objections?", "Let me know if I missed something.", ""]
BACKCHANNELS = ["yeah", "right", "okay", "sure", "mm hmm", "exactly", "true", "I see"]
#: language -> what its speakers say (``generate_conversation(..., language="de")``)
PHRASEBOOKS = {"en": Phrasebook(ACCENTS, SUBJECTS, OPENERS, CLAIMS, FOLLOWS, BACKCHANNELS), "de": GERMAN,
               "es": SPANISH}


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: espeak-ng voice name plus prosody and loudness."""

    name: str  # speaker label used in RTTM/STM
    voice: str  # espeak-ng voice, e.g. "en-gb+f3"
    pitch: int  # 0-99
    speed: int  # words per minute
    gain_db: float
    # vocal-tract scale: >1 shorter tract (higher formants), <1 longer. espeak-ng's voices share one
    # formant synthesiser, so without it they differ mostly in pitch, unlike real people.
    tract: float = 1.0


@dataclass(frozen=True)
class Turn:
    """One utterance and its voiced regions (the RTTM reference; pauses inside are not speech)."""

    speaker: str
    start: float
    end: float
    text: str
    regions: tuple[tuple[float, float], ...]


def _espeak_executable() -> str:
    found = shutil.which("espeak-ng")
    if not found:
        raise RuntimeError("espeak-ng is not installed. Install it with `apt-get install espeak-ng`.")
    return found


def _say(text: str, voice: Voice, workdir: Path) -> np.ndarray:
    """Render ``text`` with espeak-ng and return it at 16 kHz float32."""
    import soundfile as sf
    import soxr

    out = workdir / "utt.wav"
    subprocess.run([_espeak_executable(), "-v", voice.voice, "-p", str(voice.pitch), "-s", str(voice.speed),
                    "-w", str(out), text], check=True, capture_output=True)
    audio, rate = sf.read(out, dtype="float32")
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    # rendering at rate*tract and playing at rate scales every frequency (pitch and formants) by tract
    audio = soxr.resample(audio, rate * voice.tract, SAMPLE_RATE).astype(np.float32)
    return audio * np.float32(10 ** (voice.gain_db / 20))


def _voiced_regions(audio: np.ndarray, merge_gap: float = 0.3) -> list[tuple[float, float]]:
    """Voiced (start, end) seconds in one utterance; pauses shorter than ``merge_gap`` are bridged."""
    hop = int(0.01 * SAMPLE_RATE)
    frames = len(audio) // hop
    if frames == 0:
        return []
    energy = np.sqrt(np.mean(audio[: frames * hop].reshape(frames, hop) ** 2, axis=1))
    active = energy > max(1e-4, 0.02 * float(energy.max()))
    regions: list[list[float]] = []
    for i in np.flatnonzero(active):
        t0, t1 = i * hop / SAMPLE_RATE, (i + 1) * hop / SAMPLE_RATE
        if regions and t0 - regions[-1][1] <= merge_gap:
            regions[-1][1] = t1
        else:
            regions.append([t0, t1])
    return [(a, b) for a, b in regions if b - a >= 0.05]


def _turn(speaker: str, offset: float, regions, text: str) -> Turn:
    placed = tuple((offset + a, offset + b) for a, b in regions)
    return Turn(speaker, placed[0][0], placed[-1][1], text, placed)


def _make_voices(rng: np.random.Generator, count: int, tract_spread: float = 0.0,
                 accents: list[str] = ACCENTS) -> list[Voice]:
    """Distinct voices: no two share a variant; accents, pitch, speed (and vocal tract) spread apart."""
    variants = rng.choice(VARIANTS, size=count, replace=False)
    accents = rng.choice(accents, size=count, replace=count > len(accents))
    pitches = rng.permutation(np.linspace(25, 75, count).round().astype(int))
    speeds = rng.permutation(np.linspace(135, 195, count).round().astype(int))
    tracts = np.ones(count)
    if tract_spread:  # (drawn only when asked, so existing seeds give the same files as before)
        tracts = rng.permutation(np.geomspace(1 / (1 + tract_spread), 1 + tract_spread, count))
    return [
        Voice(name=f"spk{i + 1}", voice=f"{accents[i]}+{variants[i]}", pitch=int(pitches[i]),
              speed=int(speeds[i]), gain_db=float(rng.uniform(-4, 2)), tract=round(float(tracts[i]), 3))
        for i in range(count)
    ]


def _sentence(rng: np.random.Generator, book: Phrasebook = PHRASEBOOKS["en"]) -> str:
    claim = str(rng.choice(book.claims)).format(s=rng.choice(book.subjects))
    parts = [f"{rng.choice(book.openers)} {claim}."]
    if rng.random() < 0.5:
        parts.append(str(rng.choice(book.follows)))
    return " ".join(p for p in parts if p)


def _next_speaker(rng: np.random.Generator, count: int, previous: int | None) -> int:
    if previous is None:
        return int(rng.integers(count))
    others = [s for s in range(count) if s != previous]
    weights = np.linspace(1.5, 1.0, len(others))  # a little dominance by lower-numbered speakers
    return int(rng.choice(others, p=weights / weights.sum()))


def far_away(audio: np.ndarray, level_dbfs: float, rng: np.random.Generator, rt60: float = 0.6) -> np.ndarray:
    """``audio`` as heard from across a room: reverberant (exponential-decay noise tail) at ``level_dbfs`` RMS."""
    n = int(rt60 * SAMPLE_RATE)
    tail = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)  # -60 dB at rt60
    tail[0] = 0.0
    impulse = np.concatenate([[1.0], 0.5 * tail / np.sqrt(np.sum(tail**2))])
    wet = np.convolve(audio, impulse)[: len(audio)].astype(np.float32)
    rms = float(np.sqrt(np.mean(wet[np.abs(wet) > 1e-4] ** 2))) if np.any(np.abs(wet) > 1e-4) else 1.0
    return wet * np.float32(10 ** (level_dbfs / 20) / rms)


def generate_conversation(uri: str, seed: int, *, duration: float = 90.0, num_speakers: int | None = None,
                          overlap_rate: float = 0.15, backchannel_rate: float = 0.15,
                          noise_snr_db: float | None = None,
                          far: dict[int, float] | None = None,
                          tract_spread: float = 0.0,
                          language: str = "en") -> tuple[np.ndarray, list[Turn], list[Voice]]:
    """Build one conversation of roughly ``duration`` seconds; returns (waveform, turns, voices).

    ``far`` maps a speaker index to a speech level in dBFS: that speaker talks from across
    the room (reverberant, quiet), e.g. ``{1: -35.0}``; the others keep their espeak level.
    ``tract_spread`` (e.g. 0.2) gives the voices vocal tracts from 1/1.2 to 1.2 times espeak's,
    so they differ in timbre as people do, not only in pitch.
    ``language``: a key of :data:`PHRASEBOOKS` (en, de, es): what is said, by that language's voices.
    """
    book = PHRASEBOOKS[language]
    rng = np.random.default_rng(seed)
    count = num_speakers or int(rng.integers(2, 6))
    voices = _make_voices(rng, count, tract_spread, book.accents)
    pieces: list[tuple[float, np.ndarray, Voice, str]] = []  # (offset, audio, voice, text)
    turns: list[Turn] = []
    with tempfile.TemporaryDirectory(prefix="echonote-synth-") as tmp:
        workdir = Path(tmp)
        cursor, previous = float(rng.uniform(0.3, 1.5)), None
        while cursor < duration:
            s = _next_speaker(rng, count, previous)
            text = " ".join(_sentence(rng, book) for _ in range(int(rng.integers(1, 3))))
            audio = _say(text, voices[s], workdir)
            regions = _voiced_regions(audio)
            if far and s in far:
                audio = far_away(audio, far[s], rng)
            if not regions:
                continue
            lead = regions[0][0]
            start = cursor - lead  # place the first voiced sample at the cursor
            pieces.append((start, audio, voices[s], text))
            turns.append(_turn(voices[s].name, start, regions, text))
            end = start + regions[-1][1]

            if count > 1 and rng.random() < backchannel_rate and end - cursor > 2.0:
                listener = _next_speaker(rng, count, s)
                word = str(rng.choice(book.backchannels))
                short = _say(word, voices[listener], workdir)
                short_regions = _voiced_regions(short)
                if far and listener in far:
                    short = far_away(short, far[listener], rng)
                if short_regions:
                    at = float(rng.uniform(cursor + 0.8, end - 0.8)) - short_regions[0][0]
                    pieces.append((at, short, voices[listener], word))
                    turns.append(_turn(voices[listener].name, at, short_regions, word))

            if rng.random() < overlap_rate:
                gap = -float(rng.uniform(0.3, 1.2))  # next speaker starts before this one ends
            else:
                gap = float(rng.choice([rng.uniform(0.1, 0.5), rng.uniform(0.5, 1.5)], p=[0.7, 0.3]))
            cursor, previous = end + gap, s

    total = max(off + len(a) / SAMPLE_RATE for off, a, _, _ in pieces) + float(rng.uniform(0.3, 1.0))
    mix = np.zeros(int(np.ceil(total * SAMPLE_RATE)), dtype=np.float32)
    for offset, audio, _, _ in pieces:
        i = int(round(offset * SAMPLE_RATE))
        mix[i:i + len(audio)] += audio[: len(mix) - i]
    if noise_snr_db is not None:
        speech_power = float(np.mean(np.concatenate([a for _, a, _, _ in pieces]) ** 2))
        noise = rng.standard_normal(len(mix)).astype(np.float32)
        noise = np.convolve(noise, np.ones(4, dtype=np.float32) / 4, mode="same")  # a little low-pass colour
        noise *= np.sqrt(speech_power / (np.mean(noise**2) * 10 ** (noise_snr_db / 10)))
        mix += noise
    peak = float(np.abs(mix).max())
    if peak > 0.98:
        mix *= 0.98 / peak
    turns.sort(key=lambda t: (t.start, t.speaker))
    return mix, turns, voices


def _write_conversation(out: Path, uri: str, mix: np.ndarray, turns: list[Turn]) -> None:
    import soundfile as sf

    sf.write(out / f"{uri}.wav", mix, SAMPLE_RATE, subtype="PCM_16")
    with open(out / f"{uri}.rttm", "w") as fh:
        for t in turns:
            for a, b in t.regions:
                fh.write(f"SPEAKER {uri} 1 {a:.3f} {b - a:.3f} <NA> <NA> {t.speaker} <NA> <NA>\n")
    with open(out / f"{uri}.stm", "w") as fh:
        for t in turns:
            fh.write(f"{uri} 1 {t.speaker} {t.start:.3f} {t.end:.3f} <o,f0,unknown> {t.text}\n")


def conversation_file(out: str | Path, uri: str, seed: int, **options) -> Path:
    """``out/<uri>.wav`` (+ .rttm, .stm) from :func:`generate_conversation`, written once and reused after."""
    out = Path(out)
    wav = out / f"{uri}.wav"
    if not (wav.is_file() and wav.with_suffix(".rttm").is_file()):
        out.mkdir(parents=True, exist_ok=True)
        mix, turns, _ = generate_conversation(uri, seed=seed, **options)
        _write_conversation(out, uri, mix, turns)
    return wav


def generate_set(out: str | Path, n: int, seed: int = 0, *, duration: float = 90.0, noise: bool = True,
                 prefix: str = "synth") -> list[dict]:
    """Write ``n`` conversations into ``out``; every second one gets background noise when ``noise``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for i in range(n):
        uri = f"{prefix}{seed:03d}_{i:03d}"
        rng = np.random.default_rng([seed, i])
        snr = float(rng.uniform(10, 25)) if noise and i % 2 == 1 else None
        mix, turns, voices = generate_conversation(uri, seed=int(rng.integers(2**31)), duration=duration,
                                                   noise_snr_db=snr)
        _write_conversation(out, uri, mix, turns)
        entries.append({"uri": uri, "duration": round(len(mix) / SAMPLE_RATE, 3), "noise_snr_db": snr,
                        "voices": [asdict(v) for v in voices], "turns": len(turns),
                        "speech_regions": sum(len(t.regions) for t in turns)})
    (out / "manifest.json").write_text(json.dumps({"seed": seed, "n": n, "files": entries}, indent=2) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m echonote.testing.synth", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (created if missing)")
    parser.add_argument("--n", type=int, default=5, help="number of conversations (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; same seed, same files (default 0)")
    parser.add_argument("--duration", type=float, default=90.0, help="approximate seconds each (default 90)")
    parser.add_argument("--no-noise", action="store_true", help="never add background noise")
    args = parser.parse_args(argv)
    if args.n < 1 or args.duration <= 0:
        parser.error("--n must be at least 1 and --duration positive")
    try:
        entries = generate_set(args.out, args.n, args.seed, duration=args.duration, noise=not args.no_noise)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for e in entries:
        print(f"{e['uri']}: {e['duration']:.1f} s, {len(e['voices'])} speakers, {e['turns']} turns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
