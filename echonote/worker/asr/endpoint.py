"""The ``endpoint`` backend: any OpenAI-compatible ``/v1/audio/transcriptions`` server.

The waveform is sent as 16-bit WAV (multipart form, ``response_format=verbose_json``,
``timestamp_granularities[]=word``); long recordings go in consecutive chunks so
that each request stays well under the usual 25 MB upload limit, and word times
are shifted back onto the recording's clock. Standard library only.

Options, passed in from the settings by the task layer
(:func:`echonote.worker.backend_options.transcription_options`): ``base_url`` from
``ECHONOTE_ASR_BASE_URL`` (e.g. ``http://127.0.0.1:8000/v1``), ``api_key`` from
``ECHONOTE_ASR_API_KEY`` (sent as a Bearer token; optional for servers without auth;
never logged or returned) and ``model`` from ``ECHONOTE_ASR_MODEL`` (the ``model``
form field, default ``whisper-1``).
"""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
import uuid
import wave
from urllib.parse import urlsplit

from echonote.worker.asr import AsrUnavailable, ModelUnavailable, Progress

__all__ = ["EndpointBackend", "encode_wav", "transcriptions_url"]

SAMPLE_RATE = 16_000
DEFAULT_MODEL = "whisper-1"
CHUNK_SECONDS = 600.0  # 10 min of 16-bit mono 16 kHz WAV = 19 MB per request


def transcriptions_url(base_url: str) -> str:
    """The transcription route for a base URL given with or without ``/v1`` (or as the full route)."""
    base = base_url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ModelUnavailable(f"ECHONOTE_ASR_BASE_URL={base_url!r} is not an http(s) URL. "
                               f"Example: http://127.0.0.1:8000/v1")
    if base.endswith("/audio/transcriptions"):
        return base
    if not base.endswith("/v1"):
        base += "/v1"
    return base + "/audio/transcriptions"


def encode_wav(waveform) -> bytes:
    """16-bit PCM mono WAV bytes of a float waveform at 16 kHz (values clipped to [-1, 1])."""
    import numpy as np

    pcm = (np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


def _multipart(fields: list[tuple[str, str]], audio: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = io.BytesIO()
    for name, value in fields:
        body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    body.write(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="audio.wav"\r\n'
               f"Content-Type: audio/wav\r\n\r\n".encode())
    body.write(audio)
    body.write(f"\r\n--{boundary}--\r\n".encode())
    return body.getvalue(), f"multipart/form-data; boundary={boundary}"


class EndpointBackend:
    """Transcription by an OpenAI-compatible server; nothing is loaded locally."""

    name = "endpoint"

    def __init__(self, base_url: str | None = None, api_key: str | None = None, model: str | None = None,
                 timeout: float = 600.0, chunk_seconds: float = CHUNK_SECONDS):
        if not base_url:
            raise ModelUnavailable("The endpoint backend needs a server: set ECHONOTE_ASR_BASE_URL "
                                   "(e.g. http://127.0.0.1:8000/v1) and, if it asks for one, ECHONOTE_ASR_API_KEY.")
        self.url = transcriptions_url(base_url)
        self.api_key = api_key or None
        self.model = model or DEFAULT_MODEL
        self.timeout = float(timeout)
        self.chunk_seconds = float(chunk_seconds)

    def _post(self, audio: bytes, language: str | None) -> dict:
        fields = [("model", self.model), ("response_format", "verbose_json"),
                  ("timestamp_granularities[]", "word"), ("timestamp_granularities[]", "segment")]
        if language:
            fields.append(("language", language))
        body, content_type = _multipart(fields, audio)
        request = urllib.request.Request(self.url, data=body, method="POST",
                                         headers={"Content-Type": content_type, "Accept": "application/json"})
        if self.api_key:
            request.add_header("Authorization", f"Bearer {self.api_key}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:300]
            if exc.code in (401, 403):
                raise ModelUnavailable(f"{self.url} refused the request ({exc.code}: {detail}). "
                                       f"Check ECHONOTE_ASR_API_KEY.") from None
            if exc.code >= 500 or exc.code == 429:
                raise AsrUnavailable(f"{self.url} answered {exc.code} ({detail}); try again later.") from None
            raise ModelUnavailable(f"{self.url} rejected the request ({exc.code}: {detail}). Check "
                                   f"ECHONOTE_ASR_BASE_URL and ECHONOTE_ASR_MODEL ({self.model!r}).") from None
        except (TimeoutError, urllib.error.URLError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AsrUnavailable(f"Cannot reach the transcription server at {self.url} ({reason}). Check that it "
                                 f"is running and ECHONOTE_ASR_BASE_URL is right.") from None
        except json.JSONDecodeError:
            raise ModelUnavailable(f"{self.url} did not answer with JSON: is ECHONOTE_ASR_BASE_URL an "
                                   f"OpenAI-compatible server?") from None

    def transcribe(self, waveform, *, language: str | None = None,
                   progress: Progress | None = None) -> tuple[list[dict], dict]:
        """Words with start/end (s) (``probability`` when the server sends one), and metadata."""
        step = max(1, int(self.chunk_seconds * SAMPLE_RATE))
        starts = list(range(0, max(len(waveform), 1), step))
        words, answers = [], []
        for index, first in enumerate(starts):
            offset = first / SAMPLE_RATE
            answer = self._post(encode_wav(waveform[first:first + step]), language)
            if "words" not in answer:
                raise ModelUnavailable(f"{self.url} returned no word timestamps: the server must support "
                                       f"response_format=verbose_json with timestamp_granularities[]=word.")
            for word in answer["words"]:
                text = str(word.get("word", "")).strip()
                if text:
                    probability = word.get("probability")
                    words.append({"start": round(float(word["start"]) + offset, 3),
                                  "end": round(float(word["end"]) + offset, 3), "word": text,
                                  "probability": None if probability is None else float(probability)})
            answers.append(answer)
            if progress is not None:
                progress("transcribe", index + 1, len(starts))
        metadata = {
            "backend": self.name,
            "model": {"name": self.model, "url": self.url},
            "versions": {},
            "parameters": {"response_format": "verbose_json", "timestamp_granularities": ["word", "segment"],
                           "chunk_seconds": self.chunk_seconds, "requests": len(starts)},
            "device": "remote",
            "language": answers[0].get("language") if answers else None,
        }
        return words, metadata
