"""``echonote up | down | status | logs``: the stack's processes."""
from __future__ import annotations

import json
import sys
import time

import click

from echonote import config, names
from echonote.cli.app import EXIT_INCOMPLETE, EXIT_RUNTIME, EXIT_USAGE, fail, friendly_errors, main


@main.command()
@click.option("--role", "roles", multiple=True,
              type=click.Choice(["redis", "storage", "worker", "beat", "flower"]),
              help="Start only these roles (repeatable). Default: all; storage (a local S3 emulator, in memory) "
                   "only when ECHONOTE_STORAGE_URL is set and no other endpoint is.")
@friendly_errors
def up(roles):
    """Start the stack (private Redis, worker, beat, Flower) and wait until each is ready.

    Running roles are left alone, so a second `up` is harmless. Processes keep
    running after this command exits; stop them with `echonote down`.

    `--role storage` starts a local S3-compatible server (moto's emulator: in
    memory, gone when it stops; for one machine and tests, not for data you
    keep), creates the bucket of ECHONOTE_STORAGE_URL and a key, and prints
    the endpoint. Workers elsewhere need that endpoint and key.
    """
    from echonote.ops.stack import Stack

    stack = Stack(detach=True)
    started = time.monotonic()
    stack.up(tuple(roles) or None)
    for row in stack.status():
        click.echo(f"{row.role:<8} pid {row.pid:<7} {'running' if row.alive else 'stopped'}")
    click.echo(f"ready in {time.monotonic() - started:.1f} s; logs: {stack.log_dir}")
    click.echo(f"Flower: {stack.flower_url()}  ({stack.flower_login()})")
    if stack.process("storage"):
        from echonote import storage

        click.echo(f"object store: {stack.storage_endpoint()}  (moto's S3 emulator, in memory; bucket "
                   f"{storage.role_settings().get('bucket')}, key and secret in {stack.state / storage.ROLE_FILE})")


@main.command()
@friendly_errors
def down():
    """Stop exactly the processes `echonote up` started (from their pid files), nothing else."""
    from echonote.ops.stack import Stack

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
    from echonote.ops import monitor
    from echonote.ops.stack import Stack

    stack = Stack()
    report = {"state_dir": str(config.load().path("state_dir")), "processes": [vars(row) for row in stack.status()]}
    broker_ok, broker_msg = monitor.broker_status()
    report["broker"] = {
        "url": config.redact_url(config.load().effective_broker_url),
        "ok": broker_ok,
        "message": broker_msg,
    }
    nodes = monitor.workers(timeout) if broker_ok else []
    report["workers"] = [
        {"node": w.node, "queues": w.queues, "active": w.active, "registered": w.registered, "missing": w.missing}
        for w in nodes
    ]
    report["problems"] = [monitor.fix_for_missing(w.node) for w in nodes if w.lacks_code]
    for role in [r for r in stack.roles_on_disk() if r.startswith("worker")]:
        for name in monitor.unregistered_in_logs(stack.log_since_start(role)):
            fix = (
                monitor.fix_for_missing(stack.worker_node(role))
                if name in names.ALL_TASKS
                else f"'{name}' is not an echonote task name: check the spelling "
                "(`echonote settings`, echonote/names.py)."
            )
            report["problems"].append(
                f"{role} received '{name}' without having its code (\"Received unregistered task\"); "
                f"the message was discarded. {fix}"
            )
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
    report["storage"] = _storage_report(stack)
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    else:
        _print_status(report)
    if not broker_ok:
        sys.exit(EXIT_RUNTIME)
    if report["problems"]:
        sys.exit(EXIT_INCOMPLETE)


def _storage_report(stack) -> dict:
    """Where uploads and results go: the store's URL and endpoint, never a key or secret."""
    from echonote import storage

    cfg = config.load()
    if not cfg.storage_url:
        return {"url": None, "endpoint": None, "local_role": None,
                "note": "no object store: audio and results stay in the local folders (ECHONOTE_STORAGE_URL)"}
    return {"url": cfg.storage_url, "endpoint": storage.endpoint(cfg) or "AWS",
            "local_role": stack.process("storage") is not None}


def _print_status(report: dict) -> None:
    click.secho("processes", bold=True)
    if not report["processes"]:
        click.echo(
            f"  none started from the state directory {report['state_dir']} (`echonote up` starts them; "
            "ECHONOTE_HOME or ECHONOTE_STATE_DIR point at another)"
        )
    for p in report["processes"]:
        state = f"running {p['uptime_s']:.0f} s" if p["alive"] else "stopped"
        click.echo(f"  {p['role']:<8} pid {p['pid'] or '-':<7} {state:<16} {p['command'][:90]}")
    b = report["broker"]
    click.secho("broker", bold=True)
    click.echo(f"  {b['url']}: {b['message']}")
    click.secho("workers", bold=True)
    for w in report["workers"]:
        tasks = [t for t in w["registered"] if t.startswith("echonote.")]
        click.echo(
            f"  {w['node']}: queues {','.join(w['queues'])}; active {w['active']}; tasks {', '.join(tasks) or 'none'}"
        )
    if not report["workers"]:
        click.echo("  none answered")
    click.secho("beat", bold=True)
    click.echo(f"  sending: {report['beat']['holder'] or 'none'}")
    click.secho("beat schedule (next runs, UTC)", bold=True)
    for e in report["beat_schedule"]:
        click.echo(f"  {e['entry']}: {e['task']} {e['schedule']} -> next {e['next_run']}")
    click.echo(f"flower: {report['flower']}  ({report['flower_login']})")
    store = report["storage"]
    click.echo(f"object store: {store['url']} at {store['endpoint']}" if store["url"] else f"object store: none "
               f"({store['note']})")
    for problem in report["problems"]:
        click.secho(f"problem: {problem}", fg="yellow")


@main.command()
@click.argument("role")
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
@friendly_errors
def logs(role, lines, follow):
    """Show the log of ROLE (redis, worker, beat, flower, or an extra worker's name)."""
    from echonote.ops.stack import Stack

    stack = Stack()
    known = sorted(p.stem for p in stack.log_dir.glob("*.log")) if stack.log_dir.exists() else []
    if role not in known:
        fail(f"no log for role {role!r}; known: {', '.join(known) or 'none yet (run `echonote up`)'}", EXIT_USAGE)
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
