"""``echonote lab``: JupyterLab on a working copy of the notebooks, a reset between groups, participants' settings."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from echonote import config
from echonote.cli.app import EXIT_USAGE, fail, friendly_errors, main


@main.group()
def lab():
    """Run the notebooks for learners and prepare a room (reset between groups, several participants)."""


@lab.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", type=int, help="JupyterLab's port (default: ECHONOTE_LAB_PORT).")
@click.option("--ip", default="127.0.0.1", show_default=True, help="Address JupyterLab binds.")
@click.option("--fresh", is_flag=True, help="Copy every notebook again, overwriting the learner's edited copies.")
@click.option("--yes", is_flag=True, help="With --fresh: do not ask first.")
@click.argument("jupyter_args", nargs=-1, type=click.UNPROCESSED)
@friendly_errors
def serve(port, ip, fresh, yes, jupyter_args):
    """Serve a working copy of notebooks/ in JupyterLab (as root or not); extra arguments go to JupyterLab.

    The copy lives under the state directory, one per user, and is made once:
    later runs copy only missing files, so a learner's work survives.
    """
    from echonote.lab import serve as lab_serve
    from echonote.ops.stack import port_in_use

    cfg = config.load()
    port = port or cfg.lab_port
    if port_in_use(port):
        fail(f"port {port} is already taken; pass --port or set ECHONOTE_LAB_PORT to a free port.", EXIT_USAGE)
    where = lab_serve.folders(cfg)
    if fresh and not yes:
        click.confirm(f"Copy the notebooks again into {where.notebooks}, overwriting edits there?", abort=True)
    where, copied = lab_serve.prepare(cfg, fresh=fresh)
    click.echo(f"learners' notebooks: {where.notebooks} ({len(copied)} file(s) copied; edited copies are kept)")
    click.echo(f"JupyterLab: http://{ip}:{port}/lab (the line with ?token= below logs you in)")
    argv = lab_serve.jupyter_argv(where, port, ip=ip, extra=tuple(jupyter_args))
    sys.stdout.flush()
    os.chdir(where.notebooks)
    os.execv(argv[0], argv)  # JupyterLab takes over this process: Ctrl-C stops it as usual


@lab.command()
@click.option("--yes", is_flag=True, help="Do not ask first.")
@friendly_errors
def reset(yes):
    """Reset the workshop between groups; every process keeps running.

    Purges queued tasks and revokes running ones, deletes the job rows, gives
    every user their whole daily quota back, and empties uploads, results and
    the learners' notebook copies.
    """
    from echonote.lab import workshop_reset

    cfg = config.load()
    targets = workshop_reset.folders_to_empty(cfg)
    if not yes:
        click.echo("This deletes every job row, queued task, upload, result and learner's notebook copy:")
        for what, path in targets.items():
            click.echo(f"  {what}: {path}")
        click.confirm("Reset the workshop?", abort=True)
    try:
        report = workshop_reset.reset(cfg)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    for line in report.lines():
        click.echo(line)


@lab.command()
@click.argument("number", type=click.IntRange(1, 99))
@click.option("--base", type=click.Path(file_okay=False, path_type=Path),
              help="Folder holding every participant's home (default: <state>/participants; "
                   "give a folder all participants can write when they are different users).")
def participant(number, base):
    """Print the settings that give participant NUMBER a stack of its own on this host.

        eval "$(echonote lab participant 3)" && echonote up && echonote lab serve
    """
    from echonote.lab.participants import participant_env, shell_lines

    for line in shell_lines(participant_env(number, base)):
        click.echo(line)
