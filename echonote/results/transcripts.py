"""A speaker-attributed transcript from task results, written in the formats asked for (light).

Used by the ``echonote.attribute`` task on the worker and by the client when it
transcribes without diarization: pure Python, no torch.
"""
from __future__ import annotations

from pathlib import Path

from echonote.results import attribution


def build_transcript(parts, *, audio_path: str | None, formats, out_dir: Path) -> dict:
    """Merge a transcription (and maybe a diarization) and write ``<stem>.<fmt>`` for each format.

    Raises ValueError for results or formats that make no sense (the caller's to fix).
    """
    from echonote.results import formats as transcript_formats

    transcription, diarization = attribution.split_results(parts)
    unknown = set(formats) - set(transcript_formats.FORMATS)
    if unknown:
        raise ValueError(f"unknown transcript format(s) {sorted(unknown)}; "
                         f"choose from {', '.join(transcript_formats.FORMATS)}")
    merged = attribution.attribute(transcription, diarization)
    merged.update(
        duration=transcription.get("duration"),
        language=transcription.get("language"),
        language_probability=transcription.get("language_probability"),
        transcription={k: transcription.get(k) for k in ("backend", "model", "language_detection", "timings", "rtf")},
        diarization=({k: diarization.get(k) for k in ("backend", "num_speakers", "timings", "rtf")}
                     if diarization else None),
    )
    stem = Path(audio_path or transcription.get("audio", {}).get("path", "transcript")).stem
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    files = {}
    for fmt in formats:
        target = Path(out_dir) / f"{stem}{transcript_formats.FORMATS[fmt][0]}"
        target.write_text(transcript_formats.render(merged, fmt), encoding="utf-8")
        files[fmt] = str(target)
    merged.update(files=files, result_path=files.get("json"))
    return merged
