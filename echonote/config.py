"""Every echonote setting in one place: its env var, default and a line of doc.

Values are read from the environment each time :func:`load` is called, so a
test or notebook can change ``os.environ`` and build a fresh view. This module
is light: beat, Flower and clients import it; it imports no task code.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from echonote import private_files


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {text!r}")


def _int(text: str) -> int:
    return int(text.strip())


def _float(text: str) -> float:
    return float(text.strip())


def _str(text: str) -> str:
    return text


def _list(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_device(text: str) -> str:
    """ECHONOTE_DEVICE's spelling: auto (also empty), cpu, cuda or cuda:N, any case; else ``ValueError``."""
    value = text.strip().lower() or "auto"
    kind, _, index = value.partition(":")
    if value in {"auto", "cpu", "cuda"} or (kind == "cuda" and index.isdigit()):
        return value
    raise ValueError("expected auto, cpu, cuda or cuda:N")


def _threads(text: str) -> int:
    value = _int(text) if text.strip() else 0
    if value < 0:
        raise ValueError("expected 0 (the library's default) or a positive number of threads")
    return value


@dataclass(frozen=True)
class Setting:
    """One setting: ``key`` in code, ``env`` in the environment."""

    key: str
    default: Any
    doc: str
    parse: Callable[[str], Any] = _str
    secret: bool = False  # never printed, logged or returned

    @property
    def env(self) -> str:
        return "ECHONOTE_" + self.key.upper()


SETTINGS: tuple[Setting, ...] = (
    # --- where things live
    Setting("home", "",
            "Base of the four folders below when they are not set; empty = the source checkout echonote runs "
            "from, else $XDG_DATA_HOME/echonote. Never the current directory."),
    Setting("state_dir", ".state",
            "Directory for the database, logs, pid files and beat's schedule file (relative: under "
            "ECHONOTE_HOME)."),
    Setting("data_dir", "data",
            "Root of audio the tasks may read (the bundled samples live here; relative: under ECHONOTE_HOME)."),
    Setting("upload_dir", "data/uploads",
            "Root where uploaded audio is stored under content-named files (relative: under ECHONOTE_HOME)."),
    Setting("results_dir", "results", "Where RTTM/JSON results are written (relative: under ECHONOTE_HOME)."),
    Setting("database_url", "", "SQLAlchemy URL of the jobs/quotas database; empty = SQLite file in the state dir."),
    # --- broker and stack
    Setting("broker_url", "",
            "Use this existing broker instead of starting a private Redis (e.g. redis://host:6379/0)."),
    Setting("result_backend", "", "Result backend URL; empty = the broker's Redis, database 1."),
    Setting("redis_port", 6390, "Port of the private Redis that `echonote up` starts (loopback only).", _int),
    Setting("redis_password", "",
            "Password of the private Redis (requirepass); empty = one generated per stack into the state dir "
            "(0600).", secret=True),
    Setting("flower_port", 5555, "Port Flower listens on.", _int),
    Setting("flower_address", "127.0.0.1",
            "Address Flower binds; beyond loopback only with a login you set in ECHONOTE_FLOWER_BASIC_AUTH."),
    Setting("flower_basic_auth", "",
            "Flower's basic auth as user:password; empty = one generated per stack into the state dir (0600).",
            secret=True),
    Setting("worker_concurrency", 2, "Processes per worker (prefork pool).", _int),
    Setting("worker_queues", ["diarization", "default"],
            "Queues the stack's worker consumes (comma-separated).", _list),
    Setting("worker_include", "echonote.worker.tasks",
            "Module(s) the worker loads with --include; beat and Flower never import them."),
    Setting("ready_timeout", 60.0, "Seconds `echonote up` waits for each role to become ready.", _float),
    # --- object store (workers on other machines: audio in and results out by URI)
    Setting("storage_url", "",
            "Object store for uploads and results, as s3://bucket or s3://bucket/prefix (MinIO, Ceph, AWS, or "
            "`echonote up --role storage`); empty = the local upload and results folders (one machine)."),
    Setting("storage_endpoint", "",
            "URL of the S3-compatible server, e.g. http://minio:9000; empty = AWS_ENDPOINT_URL, else the local "
            "storage role's, else AWS itself."),
    Setting("storage_access_key", "",
            "Access key id for the store; empty = AWS_ACCESS_KEY_ID and the usual AWS credential chain (or the "
            "local storage role's generated key)."),
    Setting("storage_secret_key", "",
            "Secret key for the store; empty = AWS_SECRET_ACCESS_KEY and the usual AWS chain; never logged or "
            "returned.", secret=True),
    Setting("storage_port", 9390,
            "Port of the local S3-compatible server `echonote up --role storage` starts (loopback only).", _int),
    Setting("storage_cache_bytes", 5_000_000_000,
            "Bytes of fetched audio a worker keeps in its local cache (least recently used goes first).", _int),
    Setting("storage_sources", [],
            "Other places workers may fetch audio from besides the store, as URI prefixes (comma-separated, e.g. "
            "s3://archive/talks/,https://media.example.org/); empty = only the store. Like the data roots for "
            "files: a message cannot make a worker fetch anything else.", _list),
    # --- task behaviour
    Setting("soft_time_limit", 3000,
            "Soft time limit of a task in seconds (the task gets a chance to clean up).", _int),
    Setting("hard_time_limit", 3300, "Hard time limit in seconds (the pool process is replaced).", _int),
    Setting("visibility_timeout", 7200, "Redis redelivery timeout in seconds; must exceed the hard time limit.", _int),
    Setting("max_deliveries", 3,
            "Runs a job gets when its worker process dies under it (OOM killer, kill -9); then it fails.", _int),
    Setting("result_expires", 86400, "Seconds results are kept in the backend.", _int),
    Setting("send_timeout", 5.0, "Seconds a client waits for the broker when sending before it gives up.", _float),
    # --- diarization
    Setting("diarization_backend", "offline",
            "Default diarization backend: offline (bundled weights) or pyannote (a pipeline you provide)."),
    Setting("pyannote_pipeline", "",
            "For the pyannote backend: a hub id (e.g. pyannote/speaker-diarization-community-1), a local "
            "directory or a config.yaml."),
    Setting("hf_token", "",
            "Hub token for the pyannote backend when it loads by hub id; never logged or returned.", secret=True),
    Setting("device", "auto", "Where models run: auto (GPU when present), cpu, cuda or cuda:N.", parse_device),
    Setting("max_audio_seconds", 2 * 3600.0,
            "Longest audio a job accepts, in seconds (at RTF 0.1 two hours take 12 min, well inside the time "
            "limit).", _float),
    Setting("max_audio_bytes", 2_000_000_000, "Largest audio file a job accepts, in bytes.", _int),
    # --- transcription
    Setting("asr_backend", "offline",
            "Default transcription backend: offline (bundled tiny.en for English, Whisper base for other languages), "
            "whisper (ECHONOTE_ASR_MODEL) or endpoint."),
    Setting("asr_model", "",
            "For the whisper backend: a faster-whisper model name (downloads once, needs the hub) or a local "
            "model directory; for the endpoint backend: the model name it is sent (empty = whisper-1)."),
    Setting("asr_base_url", "",
            "For the endpoint backend: base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1."),
    Setting("asr_api_key", "", "For the endpoint backend: its API key; never logged or returned.", secret=True),
    Setting("model_cache", "",
            "Folder for models assembled from installed wheels (the multilingual Whisper base, 150 MB); empty = "
            "models/ in the state dir."),
    # --- schedule and quotas
    Setting("workshop_schedule_seconds", 0,
            "If > 0, beat runs reset_daily_quotas every N seconds instead of daily at 00:00 UTC.", _int),
    Setting("beat_lock_seconds", 30,
            "Expiry of the Redis lock that keeps a second beat from sending; a standby takes over this long after"
            " the holder stops.", _int),
    Setting("janitor_seconds", 60,
            "Beat sends requeue_stranded this often: jobs whose worker process died (kill -9, lost node) go back "
            "on their queue.", _int),
    Setting("upload_retention_days", 7.0,
            "Uploaded audio not used by a job for this many days is deleted by beat's cleanup task; 0 = keep "
            "forever.", _float),
    Setting("results_retention_days", 30.0,
            "Result folders older than this many days are deleted by beat's cleanup task; 0 = keep forever.", _float),
    Setting("cleanup_seconds", 3600,
            "Beat sends the cleanup task (uploads and results past their retention) this often.", _int),
    Setting("daily_quota_seconds", 7200.0, "Audio seconds a new user may submit per day.", _float),
    Setting("user", "", "Name that jobs are submitted under; empty = the login name."),
    Setting("beat_lock_key", "echonote:beat-lock",
            "Redis key of the beat lock; a beat given its own key (the notebooks' workshop beat) sends beside the"
            " stack's beat instead of standing by."),
    Setting("lab_port", 8888, "Port `echonote lab serve` gives JupyterLab.", _int),
    # --- model processes
    Setting("torch_threads", 0,
            "Threads torch uses inside each worker process for diarization; 0 = torch's default (all cores), so "
            "with several processes give each its share.", _threads),
    Setting("asr_server_key", "",
            "API key `python -m echonote.worker.asr_server` requires as a Bearer token (its --api-key); empty = "
            "none; never logged or returned.", secret=True),
)

BY_KEY = {setting.key: setting for setting in SETTINGS}

# The folders a client, beat and every worker must agree on. A value set in the
# environment is taken as given (relative to the directory it was set in); the
# defaults hang off ECHONOTE_HOME, so `echonote diarize` run from any folder finds
# the same database, uploads and stack.
DIR_KEYS = ("state_dir", "data_dir", "upload_dir", "results_dir")


def default_home(environ: dict[str, str] | os._Environ[str] | None = None) -> Path:
    """The source checkout this package runs from (an editable install), else the user's data folder."""
    environ = os.environ if environ is None else environ
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "pyproject.toml").is_file() and (checkout / "echonote" / "celery_app.py").is_file():
        return checkout
    base = environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "echonote"


class ConfigError(ValueError):
    """A setting in the environment could not be understood."""


@dataclass(frozen=True)
class Config:
    """Resolved settings; attribute access by key."""

    values: dict[str, Any]

    def __getattr__(self, key: str) -> Any:
        try:
            return self.values[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def state_path(self) -> Path:
        return Path(self.values["state_dir"])

    def path(self, key: str) -> Path:
        """A directory setting as an absolute path (resolved once, in :func:`load`)."""
        return Path(self.values[key]).expanduser().resolve()

    @property
    def audio_roots(self) -> list[Path]:
        """Where tasks may read audio from: the data and upload roots."""
        return [self.path("data_dir"), self.path("upload_dir")]

    @property
    def model_cache_path(self) -> Path:
        """Where models assembled from wheels are kept (ECHONOTE_MODEL_CACHE, else models/ in the state dir)."""
        return Path(self.values["model_cache"]).expanduser().resolve() if self.values["model_cache"] else (
            self.state_path / "models")

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.state_path / 'echonote.db'}"

    @property
    def managed_broker(self) -> bool:
        """True when the stack should start its own Redis."""
        return not self.broker_url

    @property
    def redis_password(self) -> str:
        """ECHONOTE_REDIS_PASSWORD; unset with the private Redis: the stack's generated one (empty for your own
        broker)."""
        return self._secret("redis_password")

    @property
    def flower_basic_auth(self) -> str:
        """ECHONOTE_FLOWER_BASIC_AUTH; unset: the stack's generated ``echonote:<password>``."""
        return self._secret("flower_basic_auth")

    def secret_file(self, key: str) -> Path | None:
        """Where the generated ``redis_password``/``flower_basic_auth`` lives; None when the environment sets it."""
        if self.values[key] or (key == "redis_password" and not self.managed_broker):
            return None
        return self.state_path / private_files.SECRET_FILES[key]

    def _secret(self, key: str) -> str:
        path = self.secret_file(key)
        if path is None:
            return self.values[key]
        try:
            return private_files.read_or_create_secret(path, private_files.GENERATORS[key])
        except PermissionError:
            raise ConfigError(
                f"cannot read {path}: the stack's secrets belong to the user who started it. "
                f"Run this as that user, or set {BY_KEY[key].env} to the value you were given."
            ) from None

    def redis_url(self, db: int) -> str:
        password = self.redis_password
        auth = f":{quote(password, safe='')}@" if password else ""  # '@', '#', '/' or a space stay inside the password
        return f"redis://{auth}127.0.0.1:{self.redis_port}/{db}"

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url(0)

    @property
    def effective_result_backend(self) -> str:
        if self.result_backend:
            return self.result_backend
        if self.broker_url.startswith(("redis://", "rediss://")):
            base = self.broker_url.rsplit("/", 1)[0] if self.broker_url.count("/") > 2 else self.broker_url
            return base + "/1"
        return self.redis_url(1)


def load(environ: dict[str, str] | None = None) -> Config:
    """Read every setting from ``environ`` (default ``os.environ``)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None:
            values[setting.key] = setting.default
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{setting.env}={raw!r} is not valid ({exc}). {setting.doc}") from None
    home = Path(values["home"]).expanduser().resolve() if values["home"] else default_home(environ)
    values["home"] = str(home)
    for key in DIR_KEYS:
        given = environ.get(BY_KEY[key].env)
        values[key] = str(Path(given).expanduser().resolve() if given else home / values[key])
    if values["visibility_timeout"] <= values["hard_time_limit"]:
        raise ConfigError(
            f"ECHONOTE_VISIBILITY_TIMEOUT ({values['visibility_timeout']} s) must exceed "
            f"ECHONOTE_HARD_TIME_LIMIT ({values['hard_time_limit']} s): otherwise Redis redelivers "
            "long-running tasks to a second worker while the first still runs them."
        )
    if values["soft_time_limit"] >= values["hard_time_limit"]:
        raise ConfigError("ECHONOTE_SOFT_TIME_LIMIT must be below ECHONOTE_HARD_TIME_LIMIT.")
    return Config(values)


def redact_url(url: str) -> str:
    """``url`` with everything before its host replaced by ``***`` (a raw '@' or '#' in a password leaks nothing)."""
    if "@" not in url:
        return url
    scheme, sep, _ = url.partition("://")
    return f"{scheme + sep if sep else ''}***@{url.rsplit('@', 1)[1]}"


def describe() -> list[tuple[str, str, str]]:
    """(env var, default, doc) rows: the README's configuration table."""
    rows = []
    for setting in SETTINGS:
        default = setting.default
        if isinstance(default, list):
            default = ",".join(default)
        rows.append((setting.env, str(default) if default != "" else "(empty)", setting.doc))
    return rows
