"""Audio the notebooks use, found through the settings (never ``../data`` paths).

The user's own uploads, the pyannote sample (30 s, two speakers, with a reference) and a few short
synthetic conversations (espeak-ng voices, references included) generated once
under ``<data>/synthetic/lab/``.
"""
from __future__ import annotations

import json
from pathlib import Path

from echonote import config
from echonote.client import uploads
from echonote.results import plots, samples

SYNTHETIC_FOLDER = "synthetic/lab"


def sample() -> dict[str, Path]:
    """The pyannote sample's wav/rttm/stm under the data root."""
    return samples.ensure_pyannote_sample(config.load().path("data_dir"))


def synthetic(n: int = 2, duration: float = 20.0, seed: int = 7) -> list[Path]:
    """``n`` synthetic conversations of about ``duration`` s; generated on first use (needs espeak-ng)."""
    folder = config.load().path("data_dir") / SYNTHETIC_FOLDER
    manifest = folder / "manifest.json"
    wanted = {"seed": seed, "n": n, "duration": duration}
    if manifest.exists():
        known = json.loads(manifest.read_text())
        if {k: known.get(k) for k in wanted} == wanted:
            return [folder / f"{entry['uri']}.wav" for entry in known["files"]]
    from echonote.testing import synth  # numpy and espeak-ng: only when files must be made

    entries = synth.generate_set(folder, n, seed=seed, duration=duration, noise=False, prefix="lab")
    manifest.write_text(json.dumps({**wanted, "files": entries}, indent=2) + "\n")
    return [folder / f"{entry['uri']}.wav" for entry in entries]


def audio_choices(user: str | None = None) -> dict[str, Path]:
    """Label -> path of the audio the panel offers: ``user``'s uploads (newest first, one per content),
    samples, synthetic."""
    cfg = config.load()
    choices: dict[str, Path] = {}
    for upload in uploads.user_uploads(user):
        label = f"upload: {upload.name}"
        if label in choices:  # the same name with other content: tell them apart
            label = f"{label} ({upload.path.parent.name[:8]})"
        choices[label] = upload.path
    choices.update({f"sample: {p.name}": p for p in sorted((cfg.path("data_dir") / "samples").glob("*.wav"))})
    choices.update({f"synthetic: {p.name}": p for p in sorted((cfg.path("data_dir") / "synthetic").rglob("*.wav"))})
    return choices


def reference_speakers(audio: Path) -> list[str] | None:
    """Speaker labels of the reference RTTM next to ``audio``, or None when there is none."""
    rttm = samples.reference_for(Path(audio))
    return plots.speakers_of(plots.read_rttm(rttm)) if rttm else None
