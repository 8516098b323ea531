"""The ``echonote`` command: run the stack, send tasks by name, manage quotas.

Exit codes: 0 success; 1 a runtime problem (broker unreachable, a role would
not start, a task failed); 2 bad usage or input; 3 the stack answers but is
incomplete (no worker, a worker without the task code, or no beat); 4 timed out waiting.
"""
from __future__ import annotations

import functools
import json
import math
import sys
import time

import click

from echonote import config, names

EXIT_RUNTIME, EXIT_USAGE, EXIT_INCOMPLETE, EXIT_TIMEOUT = 1, 2, 3, 4


def friendly_errors(func):
    """Turn the errors a user can fix into one clear line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from echonote.client import ClientError
        from echonote.db import DatabaseFileReplaced
        from echonote.stack import StackError

        try:
            return func(*args, **kwargs)
        except config.ConfigError as exc:
            _fail(f"configuration: {exc}", EXIT_USAGE)
        except (ClientError, StackError, DatabaseFileReplaced) as exc:
            _fail(str(exc), EXIT_RUNTIME)
        except TimeoutError as exc:
            _fail(str(exc), EXIT_TIMEOUT)
        finally:
            from echonote.client import release_pending_results

            release_pending_results()

    return wrapper


def _fail(message: str, code: int):
    click.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="echonote")
def main():
    """echonote: Celery done properly on speaker diarization.

    Beat and Flower know tasks only by name; workers load the code with
    --include. Settings come from ECHONOTE_* environment variables
    (`echonote settings` lists them).
    """


@main.command()
@click.option("--role", "roles", multiple=True, type=click.Choice(["redis", "worker", "beat", "flower"]),
              help="Start only these roles (repeatable). Default: all.")
@friendly_errors
def up(roles):
    """Start the stack (private Redis, worker, beat, Flower) and wait until each is ready.

    Running roles are left alone, so a second `up` is harmless. Processes keep
    running after this command exits; stop them with `echonote down`.
    """
    from echonote.stack import ROLE_ORDER, Stack

    stack = Stack(detach=True)
    started = time.monotonic()
    stack.up(tuple(roles) or ROLE_ORDER)
    for row in stack.status():
        click.echo(f"{row.role:<8} pid {row.pid:<7} {'running' if row.alive else 'stopped'}")
    click.echo(f"ready in {time.monotonic() - started:.1f} s; logs: {stack.log_dir}")
    click.echo(f"Flower: {stack.flower_url()}  ({stack.flower_login()})")


@main.command()
@friendly_errors
def down():
    """Stop exactly the processes `echonote up` started (from their pid files), nothing else."""
    from echonote.stack import Stack

    stopped = Stack().down()
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--timeout", default=1.0, show_default=True, help="Seconds to wait for workers to answer.")
@friendly_errors
def status(as_json, timeout):
    """Processes, broker, workers with their tasks and queues, and beat's next runs.

    Exit 0 when the broker answers, a beat holds the beat lock and every worker
    has echonote's tasks; 1 when the broker is unreachable; 3 when no worker
    answers, one lacks the code, or no beat is running.
    """
    from echonote import monitor
    from echonote.stack import Stack

    stack = Stack()
    report = {"state_dir": str(config.load().path("state_dir")), "processes": [vars(row) for row in stack.status()]}
    broker_ok, broker_msg = monitor.broker_status()
    report["broker"] = {"url": config.redact_url(config.load().effective_broker_url), "ok": broker_ok, "message": broker_msg}
    nodes = monitor.workers(timeout) if broker_ok else []
    report["workers"] = [{"node": w.node, "queues": w.queues, "active": w.active, "registered": w.registered,
                          "missing": w.missing} for w in nodes]
    report["problems"] = [monitor.fix_for_missing(w.node) for w in nodes if w.lacks_code]
    for role in [r for r in stack.roles_on_disk() if r.startswith("worker")]:
        for name in monitor.unregistered_in_logs(stack.log_since_start(role)):
            fix = monitor.fix_for_missing(stack.worker_node(role)) if name in names.ALL_TASKS else (
                f"'{name}' is not an echonote task name: check the spelling (`echonote settings`, echonote/names.py).")
            report["problems"].append(f"{role} received '{name}' without having its code (\"Received unregistered task\"); "
                                      f"the message was discarded. {fix}")
    if broker_ok and not nodes:
        report["problems"].append("no worker answered: start one with `echonote up` (or `echonote up --role worker`).")
    report["beat"] = {"holder": monitor.beat_lock_holder() if broker_ok else None}
    if broker_ok and report["beat"]["holder"] is None:
        report["problems"].append(monitor.no_beat_problem())
    report["beat_schedule"] = [
        {"entry": e.name, "task": e.task, "schedule": e.schedule, "next_run": e.next_run.isoformat()}
        for e in monitor.beat_next_runs()
    ]
    report["flower"] = stack.flower_url()
    report["flower_login"] = stack.flower_login()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_status(report)
    if not broker_ok:
        sys.exit(EXIT_RUNTIME)
    if report["problems"]:
        sys.exit(EXIT_INCOMPLETE)


def _print_status(report: dict) -> None:
    click.secho("processes", bold=True)
    if not report["processes"]:
        click.echo(f"  none started from the state directory {report['state_dir']} (`echonote up` starts them; "
                   "ECHONOTE_HOME or ECHONOTE_STATE_DIR point at another)")
    for p in report["processes"]:
        state = f"running {p['uptime_s']:.0f} s" if p["alive"] else "stopped"
        click.echo(f"  {p['role']:<8} pid {p['pid'] or '-':<7} {state:<16} {p['command'][:90]}")
    b = report["broker"]
    click.secho("broker", bold=True)
    click.echo(f"  {b['url']}: {b['message']}")
    click.secho("workers", bold=True)
    for w in report["workers"]:
        tasks = [t for t in w["registered"] if t.startswith("echonote.")]
        click.echo(f"  {w['node']}: queues {','.join(w['queues'])}; active {w['active']}; tasks {', '.join(tasks) or 'none'}")
    if not report["workers"]:
        click.echo("  none answered")
    click.secho("beat", bold=True)
    click.echo(f"  sending: {report['beat']['holder'] or 'none'}")
    click.secho("beat schedule (next runs, UTC)", bold=True)
    for e in report["beat_schedule"]:
        click.echo(f"  {e['entry']}: {e['task']} {e['schedule']} -> next {e['next_run']}")
    click.echo(f"flower: {report['flower']}  ({report['flower_login']})")
    for problem in report["problems"]:
        click.secho(f"problem: {problem}", fg="yellow")


@main.command()
@click.argument("role")
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@friendly_errors
def logs(role, lines, follow):
    """Show the log of ROLE (redis, worker, beat, flower, or an extra worker's name)."""
    from echonote.stack import Stack

    stack = Stack()
    known = sorted(p.stem for p in stack.log_dir.glob("*.log")) if stack.log_dir.exists() else []
    if role not in known:
        _fail(f"no log for role {role!r}; known: {', '.join(known) or 'none yet (run `echonote up`)'}", EXIT_USAGE)
    click.echo(stack.log_tail(role, lines))
    if follow:
        with open(stack.log_file(role)) as handle:
            handle.seek(0, 2)
            while True:
                line = handle.readline()
                if line:
                    click.echo(line, nl=False)
                else:
                    time.sleep(0.3)


def _json_option(value: str | None, what: str, kind: type):
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        example = "'[1, 2]'" if kind is list else "'{\"x\": 1}'"
        raise click.BadParameter(f"{what} must be JSON ({exc.msg} at column {exc.colno}); e.g. --{what} {example}")
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits, or nesting thousands deep
        raise click.BadParameter(f"{what} is JSON that cannot be read here ({str(exc).split(';')[0]}); "
                                 f"pass numbers of at most a few dozen digits (or as strings) and shallow structures")
    if not isinstance(parsed, kind):
        raise click.BadParameter(f"{what} must be a JSON {'array' if kind is list else 'object'}, got {type(parsed).__name__}")
    return parsed


@main.command()
@click.argument("name")
@click.option("--args", "args_json", help="Positional arguments as a JSON array.")
@click.option("--kwargs", "kwargs_json", help="Keyword arguments as a JSON object.")
@click.option("--queue", help="Override the queue (default: the route for NAME).")
@click.option("--wait", is_flag=True, help="Wait for the result and print it.")
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait with --wait.")
@friendly_errors
def call(name, args_json, kwargs_json, queue, wait, timeout):
    """Send task NAME by name (the sender needs no task code), e.g.

        echonote call echonote.reset_daily_quotas --wait
    """
    from echonote import client, monitor

    args = _json_option(args_json, "args", list)
    kwargs = _json_option(kwargs_json, "kwargs", dict)
    nodes = monitor.workers(timeout=1.0) if wait else []
    if nodes and not any(name in w.registered for w in nodes):
        click.secho(
            f"warning: no running worker has registered {name!r}; a worker will log "
            f"\"Received unregistered task of type '{name}'\" and drop it. Check the name "
            f"(`echonote status` lists registered tasks) or start workers with --include.",
            fg="yellow", err=True,
        )
    options = {"queue": queue} if queue else {}
    result = client.send_by_name(name, args=args, kwargs=kwargs, **options)
    click.echo(f"sent {name} as task {result.id}", err=True)
    if not wait:
        return
    try:
        value = client.wait(result.id, timeout=timeout)
    except TimeoutError:
        _fail(f"no result for {name} after {timeout:.0f} s; `echonote status` shows whether a worker has it "
              f"and `echonote logs worker` what happened.", EXIT_TIMEOUT)
    except Exception as exc:
        hint = ""
        if type(exc).__name__ == "NotRegistered":
            hint = (" -- the worker received the name but has no code for it (\"Received unregistered task\"). "
                    "Check the spelling against `echonote status`, or start the worker with "
                    f"--include={config.load().worker_include}.")
        _fail(f"task {name} failed: {type(exc).__name__}: {exc}{hint}", EXIT_RUNTIME)
    click.echo(json.dumps(value, indent=2, default=str))


@main.group()
def quota():
    """Show or set users' daily audio quotas (seconds of audio per day, reset at 00:00 UTC)."""


@quota.command("show")
@click.argument("user", required=False)
@friendly_errors
def quota_show(user):
    """Quota, usage and remaining seconds for USER (default: everyone)."""
    from echonote import db

    users = [u for u in db.list_users() if user is None or u.name == user]
    if user and not users:
        _fail(f"no user {user!r} yet; `echonote quota set {user} SECONDS` creates one", EXIT_USAGE)
    click.echo(f"{'user':<20}{'quota s':>10}{'used s':>10}{'left s':>10}  last reset")
    for u in users:
        reset = u.quota_reset_at.isoformat(timespec="seconds") if u.quota_reset_at else "-"
        click.echo(f"{u.name:<20}{u.daily_quota_seconds:>10.0f}{u.used_seconds_today:>10.0f}{u.remaining_seconds:>10.0f}  {reset}")


@quota.command("set")
@click.argument("user")
@click.argument("seconds", type=float)
@friendly_errors
def quota_set(user, seconds):
    """Set USER's daily quota to SECONDS of audio (creates the user)."""
    from echonote import db

    if not math.isfinite(seconds):
        _fail(f"SECONDS must be a finite number of seconds, got {seconds}; for a practically unlimited quota "
              f"give a large number such as 1e9", EXIT_USAGE)
    if seconds < 0:
        _fail("SECONDS must be >= 0 (0 blocks the user)", EXIT_USAGE)
    u = db.set_quota(user, seconds)
    click.echo(f"{u.name}: daily quota {u.daily_quota_seconds:.0f} s")


@main.command()
@friendly_errors
def settings():
    """Every ECHONOTE_* setting with the value in effect here and its meaning.

    Values come from the environment (as every echonote process reads them); a `*` marks
    those that differ from the default, which is shown after them. Secrets are never printed.
    """
    for env, shown, changed, default, doc in _settings_in_effect():
        value = shown + ("  *" if changed else "")
        click.echo(f"{env:<36} {value:<24} {doc}" + (f" (default: {default.strip('()')})" if changed else ""))


_SECRET_KEYS = ("password", "token", "api_key", "basic_auth", "secret")
_DERIVED = {"database_url": "effective_database_url", "broker_url": "effective_broker_url",
            "result_backend": "effective_result_backend"}


def _settings_in_effect() -> list[tuple[str, str, bool, str, str]]:
    """(env var, value in effect as printed, differs from default, default as printed, doc) per setting."""
    cfg = config.load()
    rows = []
    for setting, (env, default, doc) in zip(config.SETTINGS, config.describe()):
        value = cfg.values[setting.key]
        shown = ",".join(value) if isinstance(value, list) else str(value)
        if value != "" and any(word in setting.key for word in _SECRET_KEYS):
            shown = "(set, hidden)"
        elif "://" in shown:
            shown = config.redact_url(shown)
        elif shown == "" and setting.key in _DERIVED:
            shown = f"(empty: {config.redact_url(getattr(cfg, _DERIVED[setting.key]))})"
        elif shown == "":
            shown = "(empty)"
        rows.append((env, shown, value != setting.default, default, doc))
    return rows


from echonote import cli_benchmark, cli_diarize, cli_jobs, cli_transcribe  # noqa: E402,F401  (register their commands)
from echonote import cli_lab  # noqa: E402,F401  (registers `echonote lab`)
