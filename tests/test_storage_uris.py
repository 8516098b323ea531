"""Audio addresses (paths, file://, s3://, https://), the store setting, and measuring a WAV from its header."""
from __future__ import annotations

import io
import wave

import pytest

from echonote import config, storage
from echonote.client import audio_info
from echonote.errors import BadInput


@pytest.mark.parametrize(("text", "scheme", "path", "remote"), [
    ("data/meeting.wav", "file", "data/meeting.wav", False),
    ("/srv/audio/a b.wav", "file", "/srv/audio/a b.wav", False),
    ("file:///srv/audio/a%20b.wav", "file", "/srv/audio/a b.wav", False),
    ("file://localhost/srv/x.flac", "file", "/srv/x.flac", False),
    ("s3://echonote/uploads/me/0123/meeting.wav", "s3", "echonote/uploads/me/0123/meeting.wav", True),
    ("S3://my.bucket-1/k.wav", "s3", "my.bucket-1/k.wav", True),
    ("https://example.org/talks/one.mp3?sig=abc", "https", "https://example.org/talks/one.mp3?sig=abc", True),
])
def test_addresses_parse(text, scheme, path, remote):
    location = storage.parse(text)
    assert (location.scheme, location.path, location.remote) == (scheme, path, remote)


def test_a_location_knows_its_name_bucket_key_and_uri():
    s3 = storage.parse("s3://echonote/uploads/me/0123/meeting.wav")
    assert (s3.name, s3.bucket, s3.key, str(s3)) == ("meeting.wav", "echonote", "uploads/me/0123/meeting.wav",
                                                     "s3://echonote/uploads/me/0123/meeting.wav")
    assert storage.parse("https://example.org/a/talk%201.mp3?x=1").name == "talk 1.mp3"
    assert storage.parse("s3://echonote/a/100%25 take.wav").name == "100%25 take.wav"  # an S3 key is not URL-encoded
    assert str(storage.parse("file:///srv/a.wav")) == "/srv/a.wav"  # workers open it as a path, under their roots


@pytest.mark.parametrize(("text", "says"), [
    ("ftp://host/a.wav", "scheme ftp://"),
    ("gs://bucket/a.wav", "scheme gs://"),
    ("s3://echonote", "not an object address"),
    ("s3://echonote/", "not an object address"),
    ("s3://echonote/folder/", "not an object address"),
    ("s3://Bad_Bucket/a.wav", "not an object address"),
    ("s3://echonote/uploads/../secrets/a.wav", "'..'"),
    ("s3://echonote/./a.wav", "'..'"),
    ("file://otherhost/etc/passwd", "must be local"),
    ("https:///no-host.wav", "no host"),
    ("data/a\nb.wav", "control characters"),
    ("", "non-empty"),
])
def test_bad_addresses_are_refused_with_what_to_send(text, says):
    with pytest.raises(BadInput, match=says.replace(".", r"\.").replace("?", r"\?")):
        storage.parse(text)


def test_a_file_uri_stays_inside_the_roots_on_the_worker(tmp_path):
    """file:// is only a spelling of a path: the worker's root check applies to it as to any path."""
    pytest.importorskip("numpy")
    from echonote.worker.audio import AudioInputError
    from echonote.worker.inputs import Limits, decode_any

    outside = tmp_path / "outside.wav"
    outside.write_bytes(b"RIFF")
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(AudioInputError, match="outside the allowed folders"):
        decode_any(f"file://{outside}", [root], Limits())
    with pytest.raises(AudioInputError, match="outside the allowed folders"):
        decode_any(f"file://{root}/../outside.wav", [root], Limits())


def test_is_uri_tells_addresses_from_paths():
    assert storage.is_uri("s3://b/k") and storage.is_uri("https://h/x") and storage.is_uri("file:///x")
    assert not storage.is_uri("data/x.wav") and not storage.is_uri("/abs/x.wav") and not storage.is_uri("C:x")


def test_the_store_setting():
    assert storage.configured(config.load({})) is None  # the default: local folders, nothing changes
    store = storage.configured(config.load({"ECHONOTE_STORAGE_URL": "s3://echonote/team-a/"}))
    assert (store.bucket, store.prefix) == ("echonote", "team-a")
    assert store.uri("results", "t1", "a.rttm") == "s3://echonote/team-a/results/t1/a.rttm"
    assert storage.upload_key("Ann Lee", "0123456789abcdef0123", "m.wav") == "uploads/Ann_Lee/0123456789abcdef/m.wav"
    for bad in ("echonote", "https://host/bucket", "s3://", "s3://UPPER"):
        with pytest.raises(config.ConfigError, match="ECHONOTE_STORAGE_URL"):
            storage.configured(config.load({"ECHONOTE_STORAGE_URL": bad}))


def test_the_secret_key_is_marked_secret():
    assert config.BY_KEY["storage_secret_key"].secret
    assert not config.BY_KEY["storage_url"].secret


def _wav(seconds: float, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"\0\0\0\0" * int(seconds * rate))
    return buffer.getvalue()


def test_a_wav_is_measured_from_its_first_bytes_and_its_size():
    """The charge for an object given by URI: one ranged read of the header plus the object's size."""
    data = _wav(12.5)
    assert audio_info.wav_header_seconds(data[:4096], len(data)) == pytest.approx(12.5)
    assert audio_info.wav_header_seconds(data[:4096], len(data) // 2) == pytest.approx(12.5 / 2, abs=0.01)  # cut
    assert audio_info.wav_header_seconds(b"ID3\x03not a wav", 10_000) is None
    assert audio_info.wav_header_seconds(data[:20], len(data)) is None  # header past the bytes read


@pytest.mark.parametrize(("env", "starts_store"), [
    ({}, False),  # no store: `make demo` and a plain `echonote up` are as before
    ({"ECHONOTE_STORAGE_URL": "s3://echonote"}, True),  # a store and nothing else named: the local one
    ({"ECHONOTE_STORAGE_URL": "s3://echonote", "ECHONOTE_STORAGE_PORT": "9555",
      "ECHONOTE_STORAGE_ENDPOINT": "http://127.0.0.1:9555"}, True),  # named, and it is the local role's
    ({"ECHONOTE_STORAGE_URL": "s3://echonote", "ECHONOTE_STORAGE_ENDPOINT": "http://minio:9000"}, False),
    ({"ECHONOTE_STORAGE_URL": "s3://echonote", "AWS_ENDPOINT_URL": "http://minio:9000"}, False),
    ({"ECHONOTE_STORAGE_URL": "s3://echonote", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"}, False),  # AWS itself
])
def test_a_plain_up_starts_the_local_store_only_when_it_is_the_one_configured(env, starts_store, monkeypatch,
                                                                                 tmp_path):
    from echonote.ops.stack import Stack

    for key, value in env.items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    cfg = config.load({"ECHONOTE_STATE_DIR": str(tmp_path), **env})
    roles = Stack(cfg).default_roles()
    assert ("storage" in roles) == starts_store
    assert {"redis", "worker", "beat", "flower"} <= set(roles)


def test_the_upload_bar_draws_a_line_per_tenth_off_a_terminal():
    from echonote.client.terminal import TransferBar

    out = io.StringIO()
    bar = TransferBar("upload meeting.wav", out=out)
    total = 50_000_000
    for done in range(0, total + 1, 1_000_000):
        bar(done, total)
    lines = out.getvalue().splitlines()
    assert len(lines) == 11  # 0 %, 10 %, ... 100 %: not one line per chunk
    assert lines[-1].startswith("upload meeting.wav") and "100.0%" in lines[-1] and "50.0/50.0 MB" in lines[-1]
