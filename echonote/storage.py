"""Audio in and results out by URI, so a worker needs the broker and the store, never the client's disk.

Where audio can be:

- a plain path or ``file:///abs/path``: today's local files, read by workers only under the data and
  upload roots (the same traversal rules as ever);
- ``s3://bucket/key``: any S3-compatible store (MinIO, Ceph, AWS, or the local emulator that
  ``echonote up --role storage`` starts);
- ``https://...`` (and ``http://``): read-only.

``ECHONOTE_STORAGE_URL`` (``s3://bucket`` or ``s3://bucket/prefix``) turns the store on: clients upload
local files to ``<store>/uploads/<user>/<sha256 prefix>/<name>`` (once per content, see
:func:`upload_file`) and send the URI; workers fetch it into their own cache and write their outputs to
``<store>/results/<task id>/<name>`` (:func:`write_result`). Empty (the default) keeps everything on the
local folders: one laptop sees no change.

Where the store is and who we are there: ``ECHONOTE_STORAGE_ENDPOINT``, else ``AWS_ENDPOINT_URL``, else
the local storage role's endpoint; ``ECHONOTE_STORAGE_ACCESS_KEY``/``ECHONOTE_STORAGE_SECRET_KEY``, else
the usual AWS chain (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_DEFAULT_REGION``, profiles),
or the key the local role generated. The secret travels in no message, log, result or status: a task
carries only the URI.

Light: clients, the CLI and beat may import it; fsspec and s3fs are imported only when a store is used.
Problems come out as :class:`~echonote.errors.BadInput` (the object or the settings are wrong; a retry
cannot help) or :class:`~echonote.errors.TransientError` (the store did not answer; worth a bounded retry).
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from echonote import config
from echonote.errors import BadInput, TransientError

__all__ = [
    "READ_ONLY_SCHEMES", "ROLE_FILE", "Location", "ObjectInfo", "Store", "allowed_sources", "check_source",
    "configured", "download", "filesystem",
    "head_bytes", "is_uri", "object_info", "parse", "parse_store_url", "put_file", "read_text", "result_uri",
    "role_settings", "storage_options", "translate_errors", "upload_file", "upload_key", "write_result",
]

#: schemes workers may read but never write
READ_ONLY_SCHEMES = ("https", "http")
SCHEMES = ("file", "s3", *READ_ONLY_SCHEMES)
#: the local storage role's endpoint and generated credentials, a 0600 file in the state directory
ROLE_FILE = "storage.json"
DIGEST_CHARS = 16  # as the local upload root: the sha256's first 16 hex digits name a content
SHA256_META = "sha256"  # user metadata on uploads: the whole sha256, which the worker's cache checks
_CHUNK = 8 << 20
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
Progress = Callable[[int, int], Any]  # (bytes done, bytes in all)


# ----- addresses
def is_uri(text: str | os.PathLike) -> bool:
    """True for ``scheme://...`` (s3, https, file...), False for a plain path."""
    return isinstance(text, str) and bool(_URI.match(text))


@dataclass(frozen=True)
class Location:
    """Where one object is: ``scheme`` and, for ``file`` an absolute path, for ``s3`` ``bucket/key``, for
    ``https`` the whole URL."""

    scheme: str
    path: str

    def __str__(self) -> str:
        if self.scheme == "file":
            return self.path
        return self.path if self.scheme in READ_ONLY_SCHEMES else f"{self.scheme}://{self.path}"

    @property
    def remote(self) -> bool:
        """True when a worker fetches it over the network (s3, https) rather than opening a file."""
        return self.scheme != "file"

    @property
    def name(self) -> str:
        """The last part of the key or path: the file name outputs are named after."""
        path = unquote(urlsplit(self.path).path) if self.scheme in READ_ONLY_SCHEMES else self.path  # keys are raw
        return path.rsplit("/", 1)[-1]

    @property
    def bucket(self) -> str:
        return self.path.split("/", 1)[0] if self.scheme == "s3" else ""

    @property
    def key(self) -> str:
        return self.path.split("/", 1)[1] if self.scheme == "s3" else ""


def parse(text: str | os.PathLike) -> Location:
    """``text`` (a path or a URI) as a :class:`Location`; :class:`BadInput` saying what is wrong and what to send.

    Only the form is checked here: a local path is confined to the roots where it is opened (the
    worker's :func:`~echonote.worker.audio.resolve_input_path`), an object's existence where it is fetched.
    """
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    if not isinstance(text, str) or not text.strip():
        raise BadInput(f"an audio location must be a non-empty path or URI, got {text!r}")
    if any(ord(ch) < 32 for ch in text):
        raise BadInput(f"{text!r} contains control characters; send a plain path or URI.")
    match = _URI.match(text)
    if not match:
        return Location("file", text)
    scheme = match.group(1).lower()
    rest = text[match.end():]
    if scheme not in SCHEMES:
        raise BadInput(f"{text!r}: the scheme {scheme}:// is not one echonote reads; use a path, file:///path, "
                       "s3://bucket/key or https://host/path.")
    if scheme == "file":
        host, _, path = rest.partition("/")
        if host not in {"", "localhost"}:
            raise BadInput(f"{text!r} names the host {host!r}; a file:// URI must be local: file:///absolute/path.")
        return Location("file", "/" + unquote(path))
    if scheme == "s3":
        bucket, _, key = rest.partition("/")
        if not _BUCKET.match(bucket) or not key or key.endswith("/"):
            raise BadInput(f"{text!r} is not an object address; write s3://bucket/key (a bucket of 3-63 lower-case "
                           "letters, digits, '.' or '-', then the object's key).")
        if any(part in {".", ".."} for part in key.split("/")):
            raise BadInput(f"{text!r}: a key with '.' or '..' parts is refused; send the object's plain key.")
        return Location("s3", f"{bucket}/{key}")
    if not urlsplit(text).hostname:
        raise BadInput(f"{text!r} has no host; write {scheme}://host/path.")
    return Location(scheme, text)


@dataclass(frozen=True)
class Store:
    """Where uploads and results go: an S3 bucket and a key prefix (``ECHONOTE_STORAGE_URL``)."""

    bucket: str
    prefix: str = ""

    def uri(self, *parts: str) -> str:
        """``s3://bucket/<prefix>/<parts...>``."""
        return "s3://" + "/".join(p.strip("/") for p in (self.bucket, self.prefix, *parts) if p.strip("/"))

    def __str__(self) -> str:
        return self.uri()


def parse_store_url(text: str) -> Store:
    """``s3://bucket`` or ``s3://bucket/prefix`` as a :class:`Store`; :class:`config.ConfigError` otherwise."""
    match = re.match(r"^s3://([^/]+)/?(.*)$", text.strip())
    if not match or not _BUCKET.match(match.group(1)):
        raise config.ConfigError(f"ECHONOTE_STORAGE_URL={text!r} is not valid: write s3://bucket or "
                                 "s3://bucket/prefix (a bucket of 3-63 lower-case letters, digits, '.' or '-').")
    return Store(match.group(1), match.group(2).strip("/"))


def configured(cfg: config.Config | None = None) -> Store | None:
    """The store ``ECHONOTE_STORAGE_URL`` names, or None when it is empty (local folders, one machine)."""
    cfg = cfg or config.load()
    return parse_store_url(cfg.storage_url) if cfg.storage_url else None


def allowed_sources(cfg: config.Config | None = None) -> list[str]:
    """URI prefixes a worker may fetch from: the store's (``s3://bucket/prefix/``) and ECHONOTE_STORAGE_SOURCES."""
    cfg = cfg or config.load()
    store = configured(cfg)
    return [*([store.uri() + "/"] if store else []), *cfg.storage_sources]


def check_source(location: Location, extra: list[str] | tuple = (), cfg: config.Config | None = None) -> None:
    """Refuse (:class:`BadInput`) a remote ``location`` outside :func:`allowed_sources` and ``extra``: as files
    outside the data roots, so a message cannot make a worker fetch an arbitrary address."""
    uri = str(location)
    allowed = [*allowed_sources(cfg), *extra]
    if not any(uri.startswith(prefix) for prefix in allowed):
        shown = ", ".join(allowed) or "none (no ECHONOTE_STORAGE_URL)"
        raise BadInput(f"{uri} is not in a place this worker fetches audio from ({shown}). Upload the file to the "
                       "store, or ask the operator to add its prefix to ECHONOTE_STORAGE_SOURCES.")


def upload_key(user: str, digest: str, name: str) -> str:
    """The key under the store of ``user``'s upload with content ``digest`` (first hex digits of its sha256)."""
    folder = re.sub(r"[^A-Za-z0-9_.-]+", "_", user).strip("._") or "user"
    return f"uploads/{folder}/{digest[:DIGEST_CHARS]}/{name}"


# ----- who and where: endpoint and credentials
def role_settings(cfg: config.Config | None = None) -> dict[str, str]:
    """What the local storage role wrote into ``<state>/storage.json`` (endpoint, key, secret); {} without one."""
    cfg = cfg or config.load()
    try:
        return json.loads((cfg.state_path / ROLE_FILE).read_text())
    except (FileNotFoundError, PermissionError, ValueError):
        return {}


def endpoint(cfg: config.Config | None = None) -> str | None:
    """The S3 endpoint URL: ECHONOTE_STORAGE_ENDPOINT, else AWS_ENDPOINT_URL, else the local role's, else None (AWS)."""
    cfg = cfg or config.load()
    return cfg.storage_endpoint or os.environ.get("AWS_ENDPOINT_URL") or role_settings(cfg).get("endpoint") or None


def storage_options(cfg: config.Config | None = None) -> dict[str, Any]:
    """Keyword arguments for ``s3fs.S3FileSystem``: endpoint, credentials, short timeouts and few retries.

    Holds the secret: pass it to s3fs only, never print or log it. Credentials come from the settings,
    else (for the local role's endpoint) from its file, else botocore finds them (AWS_* variables, profiles).
    """
    cfg = cfg or config.load()
    url = endpoint(cfg)
    options: dict[str, Any] = {
        # fsspec keeps one client per set of options and process (a fork or new settings get a new one): a
        # warm fetch costs one HEAD, not a new session; listings are never cached (uploads are checked live)
        "use_listings_cache": False,
        "config_kwargs": {"connect_timeout": 5, "read_timeout": 60, "retries": {"max_attempts": 2}},
    }
    if url:
        options["endpoint_url"] = url
    key, secret = cfg.storage_access_key, cfg.storage_secret_key
    role = role_settings(cfg)
    if not (key or secret) and role and url == role.get("endpoint"):
        key, secret = role.get("key", ""), role.get("secret", "")
    if key or secret:
        options.update(key=key, secret=secret)
    return options


def filesystem(location: Location | str, cfg: config.Config | None = None):
    """The fsspec file system that reads ``location`` (s3fs for s3, fsspec's HTTP one for https)."""
    scheme = location.scheme if isinstance(location, Location) else location
    if scheme == "s3":
        try:
            import s3fs
        except ImportError as exc:
            raise BadInput(f"reading s3:// needs s3fs ({exc.name} is missing): pip install 'echonote[worker]' "
                           "(or the lab extra on a client).") from None
        fs = s3fs.S3FileSystem(**storage_options(cfg))
        fs.retries = 2  # s3fs's own retries on a cut connection (default 5, with backoff): a dead store fails fast
        return fs
    import fsspec

    if scheme == "file":
        return fsspec.filesystem("file")
    return fsspec.filesystem(scheme)


# ----- errors
_CREDENTIAL_CODES = ("InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidClientTokenId", "ExpiredToken",
                     "NoCredentialsError", "Unable to locate credentials", "PartialCredentialsError")


def _chain_text(exc: BaseException) -> str:
    parts, seen = [], set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        parts.append(f"{type(exc).__name__}: {exc}")
        exc = exc.__cause__ or exc.__context__
    return " | ".join(parts)


def _is_unreachable(exc: BaseException) -> bool:
    text = _chain_text(exc)
    return any(word in text for word in ("EndpointConnectionError", "ConnectTimeout", "ConnectionRefused",
                                         "Cannot connect to host", "ClientConnectorError", "ReadTimeout",
                                         "ServerTimeoutError", "Connection refused", "Name or service not known"))


def describe_error(uri: str, exc: BaseException, cfg: config.Config | None = None, action: str = "read") -> Exception:
    """The :class:`BadInput` or :class:`TransientError` that says what went wrong with ``uri`` and what to do.

    No secret enters the message: only the URI, the endpoint and the store's error code."""
    s3 = uri.lower().startswith("s3://")
    where = f"the store at {endpoint(cfg) or 'AWS'}" if s3 else f"the server {urlsplit(uri).netloc or uri}"
    text = _chain_text(exc)
    if any(code in text for code in _CREDENTIAL_CODES):
        return BadInput(f"{where} refused the credentials for {uri} (wrong or missing key). Set "
                        "ECHONOTE_STORAGE_ACCESS_KEY and ECHONOTE_STORAGE_SECRET_KEY (or AWS_ACCESS_KEY_ID and "
                        "AWS_SECRET_ACCESS_KEY) to a key this store knows.")
    if _is_unreachable(exc):
        fix = ("Check that it runs and is reachable from here (ECHONOTE_STORAGE_ENDPOINT / AWS_ENDPOINT_URL)" if s3
               else "Check the address and that the server runs")
        return TransientError(f"{where} did not answer for {uri} ({type(exc).__name__}). {fix}; the job retries a "
                              "few times.")
    if isinstance(exc, FileNotFoundError) or "NoSuchKey" in text or "NoSuchBucket" in text or " 404" in text:
        fix = "check the bucket and key (e.g. list them with `aws s3 ls`), or upload the file again" if s3 else \
            "check the address"
        if "NoSuchBucket" in text:
            fix = (f"there is no bucket {uri[5:].split('/', 1)[0]!r}: create it (e.g. `mc mb` on MinIO), or correct "
                   "ECHONOTE_STORAGE_URL")
        return BadInput(f"{uri} does not exist at {where}: {fix}.")
    if isinstance(exc, PermissionError) or "AccessDenied" in text or " 403" in text:
        return BadInput(f"no permission to {action} {uri} at {where}: its policy does not let this key {action} it. "
                        f"Ask its owner for {action} access, or use a key that has it.")
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransientError(f"no room on this machine's disk to fetch {uri}: free space, or lower "
                              "ECHONOTE_STORAGE_CACHE_BYTES.")
    return TransientError(f"{where} failed on {uri} ({type(exc).__name__}: {exc}); the job retries a few times.")


@contextmanager
def translate_errors(uri: str, cfg: config.Config | None = None, action: str = "read") -> Iterator[None]:
    """Turn the file system's errors inside the block into :func:`describe_error`'s BadInput/TransientError
    (``action``: what the block does to ``uri``, read or write, for the message)."""
    try:
        yield
    except (BadInput, TransientError):
        raise
    except Exception as exc:
        raise describe_error(uri, exc, cfg, action) from None


# ----- objects
@dataclass(frozen=True)
class ObjectInfo:
    """An object's size (-1: the server did not say), version tag and (for echonote's uploads) its whole sha256."""

    uri: str
    size: int
    etag: str = ""
    sha256: str = ""


def object_info(uri: str, cfg: config.Config | None = None) -> ObjectInfo:
    """Size and tags of the object at ``uri`` (one HEAD request), errors translated."""
    location = parse(uri)
    with translate_errors(uri, cfg):
        fs = filesystem(location, cfg)
        if location.scheme != "s3":
            info = fs.info(location.path)
            size = info.get("size")  # None: a server that does not say (a streamed answer)
            return ObjectInfo(uri, -1 if size is None else int(size), str(info.get("ETag") or ""))
        try:
            head = fs.call_s3("head_object", Bucket=location.bucket, Key=location.key)
        except PermissionError:
            _raise_why_refused(fs, location)
            raise
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        return ObjectInfo(uri, int(head.get("ContentLength") or 0), str(head.get("ETag") or "").strip('"'),
                          str(meta.get(SHA256_META, "")))


def _raise_why_refused(fs, location: Location) -> None:
    """A refused HEAD has no body, so no reason: ask once more with a request that has one (a one-key listing),
    whose error says whether the key itself is wrong (InvalidAccessKeyId, SignatureDoesNotMatch)."""
    try:
        fs.call_s3("list_objects_v2", Bucket=location.bucket, MaxKeys=1, Prefix=location.key)
    except Exception as exc:  # noqa: BLE001 (only its text is used)
        reason = _chain_text(exc)
        if any(code in reason for code in _CREDENTIAL_CODES):
            raise PermissionError(reason) from None


def head_bytes(uri: str, count: int, cfg: config.Config | None = None) -> bytes:
    """The first ``count`` bytes of the object (one ranged GET): enough to read a WAV header."""
    location = parse(uri)
    with translate_errors(uri, cfg):
        fs = filesystem(location, cfg)
        with fs.open(location.path, "rb", block_size=count) as handle:
            return handle.read(count)


def download(uri: str, out, *, expected_size: int | None = None, max_bytes: int | None = None,
             progress: Progress | None = None, cfg: config.Config | None = None) -> str:
    """Copy the object into the open binary file ``out``; return the sha256 hex of what was read.

    A length different from ``expected_size`` is a :class:`TransientError` (a cut transfer); more than
    ``max_bytes`` (an object whose size was not known before) stops the copy with :class:`BadInput`."""
    location = parse(uri)
    sha, done = hashlib.sha256(), 0
    with translate_errors(uri, cfg):
        fs = filesystem(location, cfg)
        with fs.open(location.path, "rb", block_size=_CHUNK) as handle:
            for block in iter(lambda: handle.read(_CHUNK), b""):
                out.write(block)
                sha.update(block)
                done += len(block)
                if max_bytes is not None and done > max_bytes:
                    raise BadInput(f"{uri} is larger than the limit of {max_bytes:,} bytes (its server did not "
                                   "say its size; the download was stopped there). Compress or split it.")
                if progress:
                    progress(done, expected_size or 0)
    if expected_size is not None and done != expected_size:
        raise TransientError(f"{uri}: got {done:,} bytes of {expected_size:,}; the transfer was cut, retrying.")
    return sha.hexdigest()


def _sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


def _put(fs, local: Path, target: str, metadata: dict[str, str], progress: Progress | None) -> None:
    """Stream ``local`` to ``target`` (bucket/key) with ``metadata``, reporting bytes sent."""
    total = local.stat().st_size
    done = 0
    with local.open("rb") as source, fs.open(target, "wb", block_size=max(_CHUNK, 5 << 20),
                                             Metadata=metadata) as handle:
        for block in iter(lambda: source.read(_CHUNK), b""):
            handle.write(block)
            done += len(block)
            if progress:
                progress(done, total)


def upload_file(path: str | os.PathLike, *, user: str, name: str | None = None, store: Store | None = None,
                progress: Progress | None = None, cfg: config.Config | None = None) -> tuple[str, bool]:
    """Put the local file ``path`` into the store once per content; return (its URI, whether bytes were sent).

    The key holds the content's sha256 (:func:`upload_key`); the store is asked first whether any object
    of this user has this content (one LIST), and then nothing is sent: the same file twice is one
    upload, under whatever name it came. ``progress(sent, total)`` follows a real upload.
    """
    cfg = cfg or config.load()
    store = store or configured(cfg)
    if store is None:
        raise BadInput("no object store is configured: set ECHONOTE_STORAGE_URL=s3://bucket to upload there.")
    local = Path(path)
    sha = _sha256_of(local)
    key = store.uri(upload_key(user, sha, name or local.name))
    folder = key.rsplit("/", 1)[0]
    with translate_errors(key, cfg, "write"):
        fs = filesystem("s3", cfg)
        found = fs.find(folder[len("s3://"):] + "/")  # [] when no object has this content yet
        if found:
            return "s3://" + sorted(found)[0], False
        _put(fs, local, key[len("s3://"):], {SHA256_META: sha}, progress)
    return key, True


def result_uri(task_id: str, name: str, store: Store | None = None, cfg: config.Config | None = None) -> str:
    """Where a job's output file ``name`` goes in the store: ``<store>/results/<task id>/<name>``."""
    store = store or configured(cfg)
    if store is None:
        raise BadInput("no object store is configured (ECHONOTE_STORAGE_URL) to write results to.")
    return store.uri("results", task_id, name)


def put_file(local: str | os.PathLike, uri: str, cfg: config.Config | None = None) -> str:
    """Copy the local file to the object ``uri`` (s3://, with its sha256 as metadata); return ``uri``."""
    location = parse(uri)
    if location.scheme != "s3":
        raise BadInput(f"{uri}: echonote writes only to s3:// objects; {location.scheme} is read-only here.")
    local = Path(local)
    with translate_errors(uri, cfg, "write"):
        _put(filesystem("s3", cfg), local, location.path, {SHA256_META: _sha256_of(local)}, None)
    return uri


def write_result(local: str | os.PathLike, task_id: str, cfg: config.Config | None = None,
                 store: Store | None = None) -> str:
    """Copy a finished output file to :func:`result_uri` (its own name under the task's folder); return that URI."""
    return put_file(local, result_uri(task_id, Path(local).name, store, cfg), cfg)


def read_text(uri: str, cfg: config.Config | None = None) -> str:
    """A result file's text, from the store (``s3://``) or a local path."""
    location = parse(uri)
    if not location.remote:
        return Path(location.path).read_text(encoding="utf-8")
    with translate_errors(uri, cfg):
        with filesystem(location, cfg).open(location.path, "rb") as handle:
            return handle.read().decode("utf-8")
