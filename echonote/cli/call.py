"""``echonote call NAME``: send any task by name (the sender needs no task code)."""
from __future__ import annotations

import json

import click

from echonote import config
from echonote.cli.app import EXIT_RUNTIME, EXIT_TIMEOUT, fail, friendly_errors, main


def _json_option(value: str | None, what: str, kind: type):
    if value is None:
        return kind()
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        example = "'[1, 2]'" if kind is list else "'{\"x\": 1}'"
        raise click.BadParameter(
            f"{what} must be JSON ({exc.msg} at column {exc.colno}); e.g. --{what} {example}") from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits, or nesting thousands deep
        raise click.BadParameter(f"{what} is JSON that cannot be read here ({str(exc).split(';')[0]}); "
                                 f"pass numbers of at most a few dozen digits (or as strings) and shallow structures"
                                 ) from None
    if not isinstance(parsed, kind):
        raise click.BadParameter(
            f"{what} must be a JSON {'array' if kind is list else 'object'}, got {type(parsed).__name__}"
        )
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
    from echonote import client
    from echonote.ops import monitor

    args = _json_option(args_json, "args", list)
    kwargs = _json_option(kwargs_json, "kwargs", dict)
    nodes = monitor.workers(timeout=1.0) if wait else []
    if nodes and not any(name in w.registered for w in nodes):
        click.secho(
            f"warning: no running worker has registered {name!r}; a worker will log "
            f"\"Received unregistered task of type '{name}'\" and drop it. Check the name "
            f"(`echonote status` lists registered tasks) or start workers with --include.",
            fg="yellow",
            err=True,
        )
    options = {"queue": queue} if queue else {}
    result = client.send_by_name(name, args=args, kwargs=kwargs, **options)
    click.echo(f"sent {name} as task {result.id}", err=True)
    if not wait:
        return
    try:
        value = client.wait(result.id, timeout=timeout)
    except TimeoutError:
        fail(
            f"no result for {name} after {timeout:.0f} s; `echonote status` shows whether a worker has it "
            f"and `echonote logs worker` what happened.",
            EXIT_TIMEOUT,
        )
    except Exception as exc:
        hint = ""
        if type(exc).__name__ == "NotRegistered":
            hint = (
                ' -- the worker received the name but has no code for it ("Received unregistered task"). '
                "Check the spelling against `echonote status`, or start the worker with "
                f"--include={config.load().worker_include}."
            )
        fail(f"task {name} failed: {type(exc).__name__}: {exc}{hint}", EXIT_RUNTIME)
    click.echo(json.dumps(value, indent=2, default=str))
