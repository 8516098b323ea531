"""Objects against a real S3 server (the storage role's moto emulator on a free port): uploads once per
content, the worker's cache (bounded, shared by processes, hash-checked) and every bad input a store
gives, each a clear BadInput or a bounded-retry TransientError."""
from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import time

import pytest
from support.environments import free_port
from support.object_store import fetch_in_process, requests_in_log, wav_bytes

from echonote import storage
from echonote.errors import BadInput, TransientError

pytest.importorskip("s3fs")


@pytest.fixture
def store(object_store, monkeypatch):
    """This test process reaches the session's store through the ECHONOTE_STORAGE_* settings."""
    for key, value in object_store.env().items():
        monkeypatch.setenv(key, value)
    return object_store


def _put(store, key: str, data: bytes, **metadata) -> str:
    store.client().put_object(Bucket=store.bucket, Key=key, Body=data, Metadata=metadata)
    return f"s3://{store.bucket}/{key}"


def test_the_role_refuses_a_wrong_key(object_store):
    """Authentication is on after set-up: a store that took any key would hide the wrong-credentials case."""
    import botocore.exceptions

    with pytest.raises(botocore.exceptions.ClientError, match="SignatureDoesNotMatch|InvalidAccessKeyId"):
        object_store.client(secret="wrong").list_objects_v2(Bucket=object_store.bucket)
    listed = object_store.client().list_objects_v2(Bucket=object_store.bucket)
    assert listed["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_the_same_file_twice_is_one_upload(store, tmp_path):
    data = wav_bytes(1.0) + b"once"  # content no other test uploads
    first, second = tmp_path / "meeting.wav", tmp_path / "same bytes, new name.wav"
    first.write_bytes(data)
    second.write_bytes(data)
    uri, sent = storage.upload_file(first, user="tester")
    again, sent_again = storage.upload_file(second, user="tester", name="same_bytes_new_name.wav")
    digest = hashlib.sha256(data).hexdigest()
    assert (sent, sent_again, again) == (True, False, uri)
    assert uri == f"s3://echonote/uploads/tester/{digest[:16]}/meeting.wav"
    assert requests_in_log(store.log(), "PUT", f"/echonote/uploads/tester/{digest[:16]}/") == 1
    head = store.client().head_object(Bucket="echonote", Key=uri.split("/", 3)[3])
    assert head["Metadata"]["sha256"] == digest  # what the worker's cache checks the bytes against


def test_an_upload_reports_its_bytes(store, tmp_path):
    source = tmp_path / "big.wav"
    source.write_bytes(wav_bytes(2.0) + b"progress")
    seen = []
    storage.upload_file(source, user="tester", progress=lambda done, total: seen.append((done, total)))
    assert seen and seen[-1] == (source.stat().st_size, source.stat().st_size)


# ----- the bad-input list, as the worker meets it (decode_any is what every job calls)
def _decode(uri, **limits):
    pytest.importorskip("numpy")
    from echonote.worker.inputs import Limits, decode_any

    return decode_any(uri, [], Limits(**limits))


def test_a_missing_object_is_bad_input(store):
    with pytest.raises(BadInput, match=r"s3://echonote/no/such\.wav does not exist .*upload the file again"):
        _decode("s3://echonote/no/such.wav")


def test_a_worker_fetches_only_from_the_store_and_the_listed_sources(store, monkeypatch):
    """Like the data roots for files: a message naming another bucket or any web address is refused before a
    single request, so broker access does not turn a worker into a fetcher of anything its key or network reach."""
    before = requests_in_log(store.log(), "HEAD", "/other-bucket/")
    for uri in ("s3://other-bucket/a.wav", "http://169.254.169.254/latest/meta-data/x.wav",
                "s3://echonotex/a.wav"):  # a prefix of the bucket's name is not the bucket
        with pytest.raises(BadInput, match="not in a place this worker fetches audio from .*ECHONOTE_STORAGE_SOURCES"):
            _decode(uri)
    assert requests_in_log(store.log(), "HEAD", "/other-bucket/") == before
    monkeypatch.setenv("ECHONOTE_STORAGE_SOURCES", "s3://other-bucket/talks/")
    with pytest.raises(BadInput, match="s3://other-bucket/talks/a.wav does not exist"):  # allowed, so fetched
        _decode("s3://other-bucket/talks/a.wav")
    with pytest.raises(BadInput, match="not in a place"):
        _decode("s3://other-bucket/private/a.wav")


def test_no_permission_is_bad_input(store, monkeypatch):
    iam = store.client("iam")
    iam.create_user(UserName="no-rights")
    key = iam.create_access_key(UserName="no-rights")["AccessKey"]
    uri = _put(store, "perm/a.wav", wav_bytes(0.5))
    monkeypatch.setenv("ECHONOTE_STORAGE_ACCESS_KEY", key["AccessKeyId"])
    monkeypatch.setenv("ECHONOTE_STORAGE_SECRET_KEY", key["SecretAccessKey"])
    with pytest.raises(BadInput, match="no permission to read s3://echonote/perm/a.wav"):
        _decode(uri)


def test_wrong_credentials_are_bad_input_and_never_shown(store, monkeypatch):
    uri = _put(store, "creds/a.wav", wav_bytes(0.5))
    monkeypatch.setenv("ECHONOTE_STORAGE_SECRET_KEY", "not-the-secret-xyz")
    with pytest.raises(BadInput, match="refused the credentials") as caught:
        _decode(uri)
    assert "not-the-secret-xyz" not in str(caught.value) and store.secret not in str(caught.value)
    monkeypatch.setenv("ECHONOTE_STORAGE_ACCESS_KEY", "AKIAIOSFODNN7EXAMPLE")
    with pytest.raises(BadInput, match="refused the credentials"):
        _decode(uri)


def test_an_unreachable_store_is_a_transient_error_that_fails_fast(store, monkeypatch):
    monkeypatch.setenv("ECHONOTE_STORAGE_ENDPOINT", f"http://127.0.0.1:{free_port()}")
    started = time.monotonic()
    with pytest.raises(TransientError, match="did not answer .* retries a few times"):
        _decode("s3://echonote/any.wav")
    assert time.monotonic() - started < 30  # two short tries, not s3fs's default backoff


def test_an_object_too_large_is_refused_before_download(store):
    uri = _put(store, "large/a.wav", wav_bytes(2.0))
    with pytest.raises(BadInput, match="larger than the limit .*nothing was downloaded"):
        _decode(uri, max_bytes=10_000)
    assert requests_in_log(store.log(), "GET", "/echonote/large/a.wav") == 0


def test_an_object_that_is_not_audio_names_the_object(store):
    from echonote.worker.audio import AudioInputError

    uri = _put(store, "text/notes.wav", b"these are meeting notes, not a recording\n" * 50)
    with pytest.raises(AudioInputError) as caught:
        _decode(uri)
    assert uri in str(caught.value) and "object-cache" not in str(caught.value)


def test_an_empty_object_is_bad_input(store):
    with pytest.raises(BadInput, match="empty"):
        _decode(_put(store, "empty/a.wav", b""))


def test_an_object_decodes_through_the_cache(store):
    uri = _put(store, "good/tone.wav", wav_bytes(1.5))
    decoded = _decode(uri)
    assert decoded.duration == pytest.approx(1.5, abs=0.01) and str(decoded.path) == uri


# ----- the cache
def _cache(tmp_path, max_bytes):
    from echonote.worker.object_cache import ObjectCache

    return ObjectCache(tmp_path / "cache", max_bytes)


def test_the_cache_evicts_the_least_recently_used_within_its_bound(store, tmp_path):
    size = len(wav_bytes(1.0))
    uris = [_put(store, f"lru/{name}.wav", wav_bytes(1.0)[:-4] + name.encode().ljust(4, b"_")) for name in "abc"]
    cache = _cache(tmp_path, int(2.5 * size))
    names = {}
    for uri in (uris[0], uris[1], uris[0], uris[2]):  # a, b, a again (now the most recent), c
        with cache.local_copy(uri) as path:
            names[uri] = path.name
            assert path.read_bytes()[-4:] == storage.parse(uri).name[0].encode().ljust(4, b"_")
        time.sleep(0.02)  # distinct use times
    kept = {p.name for p in cache.entries()}
    assert cache.size() <= int(2.5 * size)
    assert kept == {names[uris[0]], names[uris[2]]}  # b, least recently used, went
    assert requests_in_log(store.log(), "GET", "/echonote/lru/a.wav") == 1  # a's second use came from the cache


def test_an_entry_in_use_is_not_evicted(store, tmp_path):
    size = len(wav_bytes(1.0))
    first, second = (_put(store, f"inuse/{n}.wav", wav_bytes(1.0)[:-1] + n.encode()) for n in "xy")
    cache = _cache(tmp_path, int(1.5 * size))  # room for one
    with cache.local_copy(first) as held:
        with cache.local_copy(second) as other:
            assert held.is_file() and other.is_file()  # over the bound for a moment, never under a reader
    with cache.local_copy(second):
        pass
    assert [p.name for p in cache.entries()] == [other.name]  # once free, the older one went


def test_parallel_fetches_of_one_object_download_it_once(store, tmp_path):
    """Four processes ask for the same object at once: one download, four whole copies read.

    The processes are spawned, not forked: this test process has run other tests' threads (fsspec's event
    loop, result consumers) and a fork copies whatever locks they held at that instant. A worker's pool
    processes are forked from a main process that never fetches anything."""
    data = wav_bytes(3.0) + b"parallel"
    uri = _put(store, "parallel/a.wav", data, sha256=hashlib.sha256(data).hexdigest())
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=fetch_in_process, args=(str(tmp_path / "cache"), 10**8, uri, queue),
                               kwargs={"env": store.env()}) for _ in range(4)]
    try:
        for process in workers:
            process.start()
        digests = [queue.get(timeout=120) for _ in workers]
        for process in workers:
            process.join(30)
        assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    finally:
        for process in workers:
            if process.is_alive():
                process.kill()
    assert digests == [hashlib.sha256(data).hexdigest()] * 4
    assert requests_in_log(store.log(), "GET", "/echonote/parallel/a.wav") == 1
    assert [p.name for p in (tmp_path / "cache").iterdir() if p.name.startswith(".") and p.is_file()] == []


def test_bytes_that_do_not_match_the_upload_hash_are_not_kept(store, tmp_path):
    uri = _put(store, "damaged/a.wav", wav_bytes(0.5), sha256="0" * 64)
    cache = _cache(tmp_path, 10**8)
    with pytest.raises(TransientError, match="do not match the sha256"):
        with cache.local_copy(uri):
            pass
    assert cache.entries() == [] and not any(p.is_file() for p in cache.root.iterdir())


def test_an_object_larger_than_the_whole_cache_is_refused(store, tmp_path):
    uri = _put(store, "huge/a.wav", wav_bytes(1.0))
    with pytest.raises(BadInput, match="ECHONOTE_STORAGE_CACHE_BYTES"):
        with _cache(tmp_path, 1000).local_copy(uri):
            pass


def test_the_role_file_is_private(object_store):
    path = object_store.state / "storage.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert json.loads(path.read_text())["secret"] == object_store.secret


@pytest.fixture
def web_folder(tmp_path):
    """A plain HTTP server on a free port serving ``tmp_path/www`` (an https:// source, without TLS)."""
    import functools
    import http.server

    folder = tmp_path / "www"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    with _serving(handler) as base:
        yield folder, base


@contextlib.contextmanager
def _serving(handler):
    """An HTTP server for ``handler`` on a free loopback port, in a thread; yields its base URL."""
    import http.server
    import threading

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_an_http_address_is_read_only_and_decodes(web_folder, monkeypatch):
    folder, base = web_folder
    (folder / "talk.wav").write_bytes(wav_bytes(1.25))
    with pytest.raises(BadInput, match="not in a place this worker fetches audio from"):
        _decode(f"{base}/talk.wav")
    monkeypatch.setenv("ECHONOTE_STORAGE_SOURCES", f"{base}/")
    assert _decode(f"{base}/talk.wav").duration == pytest.approx(1.25, abs=0.01)
    with pytest.raises(BadInput, match="does not exist"):
        _decode(f"{base}/missing.wav")
    with pytest.raises(BadInput, match="read-only"):
        storage.put_file(folder / "talk.wav", f"{base}/copy.wav")


def test_uploading_to_a_bucket_that_does_not_exist_says_so(store, monkeypatch, tmp_path):
    monkeypatch.setenv("ECHONOTE_STORAGE_URL", "s3://no-bucket-here")
    source = tmp_path / "a.wav"
    source.write_bytes(wav_bytes(0.2))
    with pytest.raises(BadInput, match="there is no bucket 'no-bucket-here'.*ECHONOTE_STORAGE_URL"):
        storage.upload_file(source, user="tester")


def test_a_key_that_may_only_read_cannot_upload(store, monkeypatch, tmp_path):
    iam = store.client("iam")
    iam.create_user(UserName="read-only")
    iam.put_user_policy(UserName="read-only", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:ListBucket"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName="read-only")["AccessKey"]
    monkeypatch.setenv("ECHONOTE_STORAGE_ACCESS_KEY", key["AccessKeyId"])
    monkeypatch.setenv("ECHONOTE_STORAGE_SECRET_KEY", key["SecretAccessKey"])
    source = tmp_path / "a.wav"
    source.write_bytes(wav_bytes(0.3) + b"read-only")
    with pytest.raises(BadInput, match="no permission to write s3://echonote/uploads/tester/"):
        storage.upload_file(source, user="tester")


@pytest.fixture
def streaming_server():
    """An HTTP server that never says a length (HTTP/1.0, the body ends when the connection closes)."""
    import http.server

    bodies: dict[str, bytes] = {}

    class Streamed(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def do_HEAD(self):
            self.send_response(200 if self.path in bodies else 404)
            self.end_headers()

        def do_GET(self):
            self.do_HEAD()
            self.wfile.write(bodies.get(self.path, b""))

        def log_message(self, *args):
            pass

    with _serving(Streamed) as base:
        yield bodies, base


def test_an_object_of_unknown_size_is_bounded_while_it_downloads(streaming_server, monkeypatch):
    bodies, base = streaming_server
    monkeypatch.setenv("ECHONOTE_STORAGE_SOURCES", f"{base}/")
    bodies["/talk.wav"] = wav_bytes(1.0)
    assert _decode(f"{base}/talk.wav").duration == pytest.approx(1.0, abs=0.01)
    with pytest.raises(BadInput, match="did not say its size; the download was stopped there"):
        _decode(f"{base}/talk.wav", max_bytes=10_000)


def test_the_client_measures_an_object_without_downloading_it(store, streaming_server):
    """The charge for `echonote diarize s3://...`: a WAV's length from one ranged read of its header; other
    formats by size (the worker settles); a server that does not say the size: nothing up front."""
    from echonote.client import remote_audio

    data = wav_bytes(20.0)  # 640 kB: more than the header read
    uri = _put(store, "measure/long.wav", data)
    assert remote_audio.measure(uri) == (len(data), pytest.approx(20.0))
    assert remote_audio.measure(_put(store, "measure/a.mp3", b"ID3" + bytes(5000))) == (5003, None)
    bodies, base = streaming_server
    bodies["/live.wav"] = data
    assert remote_audio.measure(f"{base}/live.wav") == (-1, None)
    with pytest.raises(ValueError, match="does not exist"):
        remote_audio.measure("s3://echonote/measure/none.wav")
