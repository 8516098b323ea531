"""Settings reach the code one way: config.load() reads and checks every ECHONOTE_* variable, the rest get values.

Backends are built from options that :mod:`echonote.worker.backend_options` makes out of a
``config.load()``; no other module reads an ECHONOTE_* variable from the environment, so a
typo fails in one place with the setting's doc, for diarization and transcription alike.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from echonote import config

PACKAGE = Path(config.__file__).resolve().parent
#: (module, variable) pairs allowed to read an ECHONOTE_* variable besides config.py, and why
DOCUMENTED_READS = {
    # the broker-outage drill points the client at a dead broker and puts the user's value back after
    ("testing/chaos.py", "ECHONOTE_BROKER_URL"),
}


def _is_environ(node: ast.AST) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ")


def _echonote_name(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("ECHONOTE_"):
        return node.value
    return None


def environment_reads(source: str) -> list[tuple[int, str]]:
    """(line, variable) for each read of an ECHONOTE_* variable from the process environment in ``source``:
    ``os.environ.get(...)``, ``os.getenv(...)``, ``os.environ[...]`` (not as an assignment target),
    ``... in os.environ``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        name = None
        if isinstance(node, ast.Call) and node.args:
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr in {"get", "pop"} and _is_environ(func.value):
                name = _echonote_name(node.args[0])
            elif isinstance(func, ast.Attribute) and func.attr == "getenv" or (
                    isinstance(func, ast.Name) and func.id == "getenv"):
                name = _echonote_name(node.args[0])
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value):
            name = _echonote_name(node.slice)
        elif isinstance(node, ast.Compare) and any(_is_environ(c) for c in node.comparators):
            name = _echonote_name(node.left)
        if name:
            found.append((node.lineno, name))
    return found


def test_the_scan_finds_every_way_of_reading():
    """The scan must be able to fail: each spelling of a read is caught, writes are not."""
    source = "\n".join([
        "import os", "from os import environ, getenv",
        "a = os.environ.get('ECHONOTE_DEVICE')", "b = os.getenv('ECHONOTE_ASR_MODEL', '')",
        "c = os.environ['ECHONOTE_ASR_BASE_URL']", "d = 'ECHONOTE_TORCH_THREADS' in os.environ",
        "e = environ.get('ECHONOTE_ASR_API_KEY')", "f = getenv('ECHONOTE_PYANNOTE_PIPELINE')",
        "os.environ['ECHONOTE_USER'] = 'x'", "os.environ.setdefault('ECHONOTE_HOME', '/tmp')",
        "g = os.environ.get('HF_TOKEN')",
    ])
    assert [name for _, name in environment_reads(source)] == [
        "ECHONOTE_DEVICE", "ECHONOTE_ASR_MODEL", "ECHONOTE_ASR_BASE_URL", "ECHONOTE_TORCH_THREADS",
        "ECHONOTE_ASR_API_KEY", "ECHONOTE_PYANNOTE_PIPELINE"]


def test_only_config_reads_echonote_variables():
    reads = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        if module == "config.py":
            continue
        reads += [f"echonote/{module}:{line} reads {name}" for line, name in environment_reads(path.read_text())
                  if (module, name) not in DOCUMENTED_READS]
    assert not reads, "read settings through config.load() (and add them to config.SETTINGS):\n" + "\n".join(reads)


def test_every_echonote_variable_the_package_names_is_a_setting():
    """`echonote settings`, the README table and .env.example list config.SETTINGS: nothing may hide beside it."""
    known = {setting.env for setting in config.SETTINGS}
    named = {}
    for path in PACKAGE.rglob("*.py"):
        for name in re.findall(r"\bECHONOTE_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()):
            named.setdefault(name, path.relative_to(PACKAGE).as_posix())
    unknown = {name: module for name, module in named.items() if name not in known}
    assert not unknown, f"not in config.SETTINGS: {unknown}"
    assert {"ECHONOTE_TORCH_THREADS", "ECHONOTE_ASR_SERVER_KEY"} <= known


@pytest.mark.parametrize("variable, value", [
    ("ECHONOTE_DEVICE", "gpu"), ("ECHONOTE_DEVICE", "cuda:first"), ("ECHONOTE_DEVICE", "cpu0"),
    ("ECHONOTE_TORCH_THREADS", "four"), ("ECHONOTE_TORCH_THREADS", "-2"),
])
def test_a_bad_value_is_a_config_error_with_the_setting_doc(variable, value):
    setting = next(s for s in config.SETTINGS if s.env == variable)
    with pytest.raises(config.ConfigError) as caught:
        config.load({variable: value})
    assert f"{variable}={value!r} is not valid" in str(caught.value) and setting.doc in str(caught.value)


def test_device_and_threads_are_read_and_normalised():
    cfg = config.load({"ECHONOTE_DEVICE": " CUDA:1 ", "ECHONOTE_TORCH_THREADS": "3"})
    assert (cfg.device, cfg.torch_threads) == ("cuda:1", 3)
    assert (config.load({}).device, config.load({}).torch_threads) == ("auto", 0)
    assert config.load({"ECHONOTE_DEVICE": "", "ECHONOTE_TORCH_THREADS": ""}).device == "auto"


def test_secret_settings_are_flagged():
    secret = {setting.env for setting in config.SETTINGS if setting.secret}
    assert secret == {"ECHONOTE_REDIS_PASSWORD", "ECHONOTE_FLOWER_BASIC_AUTH", "ECHONOTE_HF_TOKEN",
                      "ECHONOTE_ASR_API_KEY", "ECHONOTE_ASR_SERVER_KEY", "ECHONOTE_STORAGE_SECRET_KEY"}


def test_one_device_rule():
    from echonote.worker.devices import resolve_device

    assert resolve_device(None, 0) == resolve_device("auto", 0) == "cpu"
    assert resolve_device("auto", 2) == "cuda" and resolve_device("cpu", 2) == "cpu"
    assert resolve_device("cuda:1", 2) == "cuda:1"
    with pytest.raises(ValueError, match="no CUDA GPU is visible"):
        resolve_device("cuda", 0)
    with pytest.raises(ValueError, match="only 1 CUDA GPU"):
        resolve_device("cuda:1", 1)
    with pytest.raises(ValueError, match="Unknown device 'gpu'"):
        resolve_device("gpu", 1)


def test_backend_options_come_from_the_settings():
    from echonote.errors import BadInput
    from echonote.worker.backend_options import diarization_options, transcription_options

    cfg = config.load({"ECHONOTE_DEVICE": "cpu", "ECHONOTE_TORCH_THREADS": "2", "ECHONOTE_ASR_MODEL": "small.en",
                       "ECHONOTE_ASR_BASE_URL": "http://127.0.0.1:9/v1", "ECHONOTE_ASR_API_KEY": "k-123",
                       "ECHONOTE_PYANNOTE_PIPELINE": "/models/pipe", "ECHONOTE_HF_TOKEN": "hf_x"})
    assert diarization_options("offline", cfg) == {"device": "cpu", "torch_threads": 2}
    assert diarization_options("pyannote", cfg) == {"device": "cpu", "torch_threads": 2, "pipeline": "/models/pipe",
                                                    "token": "hf_x"}
    cache = str(cfg.model_cache_path)
    assert transcription_options("offline", cfg) == {"device": "cpu", "model_cache": cache}
    assert transcription_options("whisper", cfg) == {"device": "cpu", "model": "small.en", "model_cache": cache}
    assert cache == str(cfg.state_path / "models")
    assert config.load({"ECHONOTE_MODEL_CACHE": "/srv/models"}).model_cache_path.as_posix() == "/srv/models"
    assert transcription_options("endpoint", cfg) == {"base_url": "http://127.0.0.1:9/v1", "api_key": "k-123",
                                                      "model": "small.en"}
    with pytest.raises(BadInput, match="ECHONOTE_PYANNOTE_PIPELINE"):
        diarization_options("pyannote", config.load({}))


def test_endpoint_backend_holds_what_the_settings_say(monkeypatch):
    """Built from config: the URL, key and model it holds are the settings'; the environment alone is not read."""
    from echonote.worker.asr import ModelUnavailable
    from echonote.worker.asr.endpoint import EndpointBackend
    from echonote.worker.backend_options import transcription_options

    cfg = config.load({"ECHONOTE_ASR_BASE_URL": "http://127.0.0.1:9", "ECHONOTE_ASR_API_KEY": "k-123"})
    backend = EndpointBackend(**transcription_options("endpoint", cfg))
    assert backend.url == "http://127.0.0.1:9/v1/audio/transcriptions"
    assert backend.api_key == "k-123" and backend.model == "whisper-1"
    assert "k-123" not in repr(backend)

    monkeypatch.setenv("ECHONOTE_ASR_BASE_URL", "http://127.0.0.1:9/v1")
    with pytest.raises(ModelUnavailable, match="set ECHONOTE_ASR_BASE_URL"):
        EndpointBackend()  # a backend built without options does not go looking in os.environ


def test_asr_server_refuses_a_bad_setting_like_every_role(monkeypatch, capsys):
    from echonote.worker import asr_server

    monkeypatch.setenv("ECHONOTE_DEVICE", "gpu")
    assert asr_server.main(["--port", "0"]) == 2
    assert "ECHONOTE_DEVICE='gpu' is not valid" in capsys.readouterr().err
