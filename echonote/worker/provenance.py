"""The fields every job result shares: the audio read, what was asked, how it was made, timings, RTF."""

from __future__ import annotations

from dataclasses import asdict

from echonote.worker.inputs import Limits

__all__ = ["provenance"]


def provenance(decoded, limits: Limits, request: dict, metadata: dict, *, stage: str, marks: tuple) -> dict:
    """The shared fields of a result whose main work is called ``stage`` (``diarize``, ``transcribe``).

    ``marks`` = perf_counter() at (start, decoded, loading models, models loaded, finished).
    """
    started, decoded_at, loading, loaded_at, finished = marks
    work = finished - loaded_at
    return {
        "audio": {
            "path": str(decoded.path),
            "decoder": decoded.decoder,
            "format": decoded.source_format,
            "source_sample_rate": decoded.source_sample_rate,
            "source_channels": decoded.source_channels,
        },
        # an object fetched by URI (decode_any leaves its URI as the path): named at the top too, beside the
        # outputs' URIs
        **({"audio_uri": decoded.path} if isinstance(decoded.path, str) else {}),
        "request": request,
        **metadata,
        "limits": asdict(limits),
        "timings": {
            "decode": round(decoded_at - started, 3),
            "model_load": round(loaded_at - loading, 3),
            stage: round(work, 3),
            "total": round(finished - started, 3),
        },
        "rtf": round(work / decoded.duration, 4) if decoded.duration else None,
    }
