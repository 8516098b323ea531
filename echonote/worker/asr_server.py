"""A small OpenAI-compatible transcription server on loopback, serving a local faster-whisper model.

    python -m echonote.worker.asr_server --port 8000 [--api-key SECRET] [--backend offline]
    ECHONOTE_ASR_BASE_URL=http://127.0.0.1:8000/v1 echonote transcribe ...  # the endpoint backend

Implements ``POST /v1/audio/transcriptions`` (multipart: ``file``, ``model``,
``language``, ``response_format`` json | text | verbose_json,
``timestamp_granularities[]``), ``GET /v1/models`` and ``GET /health``. It is
for tests and small experiments: it listens on loopback only, serves each
connection in its own thread (at most ``--max-connections``, one model decode at
a time), drops a connection that sends nothing for ``--read-timeout`` seconds,
checks the key before it reads a body, and caps uploads at ``--max-upload-mb``.

Settings come through ``config.load()`` like every other role's: the key defaults to
``ECHONOTE_ASR_SERVER_KEY`` (never logged), the model and device to ``ECHONOTE_ASR_MODEL`` and
``ECHONOTE_DEVICE``; a bad value stops the server at once with the setting's doc.
"""

from __future__ import annotations

import argparse
import email.parser
import email.policy
import hmac
import json
import logging
import socket
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from echonote import config

logger = logging.getLogger(__name__)

__all__ = ["TranscriptionServer", "main"]

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ROUTE = "/v1/audio/transcriptions"


class _BadRequest(Exception):
    pass


def parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, list[str]], bytes | None]:
    """Form fields (name -> values) and the uploaded ``file`` bytes of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise _BadRequest("send multipart/form-data with a 'file' field")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    fields: dict[str, list[str]] = {}
    upload = None
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if name == "file":
            upload = payload
        elif name:
            fields.setdefault(name, []).append(payload.decode("utf-8", "replace"))
    return fields, upload


class TranscriptionServer(ThreadingHTTPServer):
    """An HTTP server holding one transcription backend (loaded once, at start).

    Each connection gets a thread, so a client that stalls halfway through a request holds
    up nobody else; ``read_timeout`` ends such a connection, and ``max_connections`` bounds
    the threads (a connection beyond it gets 503 at once).
    """

    daemon_threads = True

    def __init__(self, port: int, *, backend: str = "offline", api_key: str | None = None,
                 max_upload_bytes: int = 100 * 1024**2, host: str = "127.0.0.1", read_timeout: float = 30.0,
                 max_connections: int = 32):
        if host not in LOOPBACK:
            raise ValueError(f"The transcription server listens on loopback only; {host!r} is not loopback.")
        from echonote.worker.asr import get_backend
        from echonote.worker.backend_options import transcription_options

        self.backend_name = backend
        self.engine = get_backend(backend, **transcription_options(backend, config.load()))
        self.api_key = api_key
        self.max_upload_bytes = max_upload_bytes
        self.lock = threading.Lock()
        self.read_timeout = read_timeout
        self.slots = threading.BoundedSemaphore(max_connections)
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, port), _Handler)


    def process_request(self, request, client_address):
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address):
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Handler(BaseHTTPRequestHandler):
    server: TranscriptionServer
    protocol_version = "HTTP/1.1"

    def setup(self):
        self.timeout = self.server.read_timeout  # every read on this connection, request line to body
        super().setup()

    def log_message(self, fmt, *args):  # route the access log through logging, not stderr
        logger.info("%s " + fmt, self.address_string(), *args)

    def _send(self, status: int, payload, content_type: str = "application/json") -> None:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error", "code": status}})

    def _authorised(self) -> bool:
        if not self.server.api_key:
            return True
        given = self.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.server.api_key}".encode())

    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path == "/health":
            self._send(200, {"status": "ok", "backend": self.server.backend_name})
        elif self.path == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": self.server.backend_name, "object": "model"}]})
        else:
            self._error(404, f"no route {self.path}; POST audio to {ROUTE}")

    def do_POST(self):  # noqa: N802
        asked_to_close = self.close_connection
        self.close_connection = True  # until the body is read: its unread bytes must not become the next request
        if self.path.rstrip("/") != ROUTE:
            self._error(404, f"no route {self.path}; POST audio to {ROUTE}")
            return
        if not self._authorised():
            self._error(401, "missing or wrong API key: send 'Authorization: Bearer <key>'")
            return
        length = self.headers.get("Content-Length", "")
        length = int(length) if length.strip().isdigit() else 0
        if length <= 0 or length > self.server.max_upload_bytes:
            self._error(413 if length else 400, f"send a body of 1 byte to {self.server.max_upload_bytes} bytes")
            return
        try:
            body = self.rfile.read(length)
        except TimeoutError:
            self._error(408, f"the request body did not arrive within {self.server.read_timeout:g} s; "
                             "send it in one go")
            return
        if len(body) < length:  # the client closed the connection mid-body
            return
        self.close_connection = asked_to_close
        try:
            fields, upload = parse_multipart(self.headers.get("Content-Type", ""), body)
            if not upload:
                raise _BadRequest("the form has no 'file' field with audio in it")
            fmt = fields.get("response_format", ["json"])[0]
            if fmt not in {"json", "text", "verbose_json"}:
                raise _BadRequest(f"response_format {fmt!r} is not supported: use json, text or verbose_json")
            answer = self._transcribe(upload, fields.get("language", [None])[0])
        except _BadRequest as exc:
            self._error(400, str(exc))
            return
        except ValueError as exc:  # AudioInputError and bad options: the caller's to fix
            self._error(400, str(exc))
            return
        if fmt == "text":
            self._send(200, answer["text"] + "\n", "text/plain; charset=utf-8")
        elif fmt == "json":
            self._send(200, {"text": answer["text"]})
        else:
            self._send(200, answer)

    def _transcribe(self, upload: bytes, language: str | None) -> dict:
        from echonote.worker.audio import decode_audio

        with tempfile.TemporaryDirectory(prefix="echonote-asr-") as folder:
            path = Path(folder) / "upload"
            path.write_bytes(upload)
            waveform = decode_audio(path).waveform
        with self.server.lock:  # one decode of the model at a time
            words, metadata = self.server.engine.transcribe(waveform, language=language or None)
        return {
            "task": "transcribe",
            "language": metadata.get("language"),
            "duration": round(len(waveform) / 16_000, 3),
            "text": " ".join(w["word"] for w in words),
            "words": words,
            "segments": [],
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--host", default="127.0.0.1", help="a loopback address (default 127.0.0.1)")
    parser.add_argument("--backend", default="offline", help="local backend to serve: offline or whisper")
    parser.add_argument("--api-key", default=None,
                        help="require 'Authorization: Bearer KEY' (default: ECHONOTE_ASR_SERVER_KEY; none)")
    parser.add_argument("--max-upload-mb", type=float, default=100.0)
    parser.add_argument("--read-timeout", type=float, default=30.0,
                        help="seconds a connection may send nothing before it is dropped (default 30)")
    parser.add_argument("--max-connections", type=int, default=32, help="connections served at once (default 32)")
    args = parser.parse_args(argv)
    try:
        settings = config.load()
    except config.ConfigError as exc:
        print(f"echonote asr_server: {exc}", file=sys.stderr)
        return 2
    api_key = args.api_key if args.api_key is not None else settings.asr_server_key or None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.backend == "endpoint":
        parser.error("the server serves a local model: use --backend offline or whisper")
    try:
        server = TranscriptionServer(args.port, backend=args.backend, api_key=api_key, host=args.host,
                                     max_upload_bytes=int(args.max_upload_mb * 1024**2),
                                     read_timeout=args.read_timeout, max_connections=args.max_connections)
    except (ValueError, OSError) as exc:
        print(f"echonote asr_server: {exc}", file=sys.stderr)
        return 2
    print(f"serving {args.backend} on http://{args.host}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
