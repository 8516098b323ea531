"""Audio in an object store, seen from the client: upload a local file once per content, or check and
measure an object named by URI, without downloading it.

The charge for an object given by URI is measured from one HEAD (its size) and one ranged GET of its
first :data:`HEADER_BYTES`: a PCM WAV's data chunk, clamped to the object's size, gives its length
exactly; any other format is charged by size at 128 kbit/s, and the worker settles the difference with
what it decodes (as for a local file nothing could measure). A server that does not say the size: nothing
up front, the worker charges all it decodes (refused beyond the user's quota).
"""
from __future__ import annotations

from pathlib import Path

from echonote import storage
from echonote.client import audio_info
from echonote.client.jobs import ClientError
from echonote.errors import BadInput, TransientError

#: bytes read from the start of an object to find a WAV's header
HEADER_BYTES = 1 << 16
#: 128 kbit/s: the charge per byte of a format whose length the header does not tell
GUESS_BYTES_PER_SECOND = 16000


class StoreUnavailable(ClientError):
    """The object store did not answer (down, unreachable); nothing was charged or sent."""


def _client_error(exc: Exception, refused: type[Exception]) -> Exception:
    return refused(str(exc)) if isinstance(exc, BadInput) else StoreUnavailable(str(exc))


def upload(source: Path, *, user: str, name: str, progress: storage.Progress | None = None,
           refused: type[Exception] = ValueError) -> str:
    """``source`` in the store (:func:`echonote.storage.upload_file`: once per content); its URI.

    A store that refuses (no key, no permission) raises ``refused``; one that does not answer
    :class:`StoreUnavailable`."""
    try:
        uri, _sent = storage.upload_file(source, user=user, name=name, progress=progress)
    except (BadInput, TransientError) as exc:
        raise _client_error(exc, refused) from None
    return uri


def measure(uri: str, *, refused: type[Exception] = ValueError) -> tuple[int, float | None]:
    """The object's size (-1: its server does not say) and, for a PCM WAV, its length in seconds (None: not told
    by the header). An object of unknown size is charged nothing up front: the worker charges what it decodes."""
    try:
        info = storage.object_info(uri)
        if info.size <= 0:
            return info.size, None
        head = storage.head_bytes(uri, min(HEADER_BYTES, info.size))
    except (BadInput, TransientError) as exc:
        raise _client_error(exc, refused) from None
    return info.size, audio_info.wav_header_seconds(head, info.size)
