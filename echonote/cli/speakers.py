"""``echonote speakers enroll | list | remove``: named voiceprints that ``--identify`` puts on found speakers."""
from __future__ import annotations

import json
from pathlib import Path

import click

from echonote.cli import audio as cli_audio
from echonote.cli.app import EXIT_USAGE, fail, friendly_errors, main


@main.group()
def speakers():
    """Enrolled voices: `echonote diarize --identify` and `echonote transcribe --identify` call the speakers
    they recognise by these names instead of SPEAKER_00, SPEAKER_01 ...

    Each user has their own voiceprints (ECHONOTE_USER, else the login name).
    """


def _clips(audio, starts, ends):
    """Pair the files with --start/--end in order: none at all (whole files), or one of each per file."""
    from echonote.client.speakers import Clip

    for flag, values in (("--start", starts), ("--end", ends)):
        if values and len(values) != len(audio):
            fail(f"{flag} was given {len(values)} time(s) for {len(audio)} file(s): give it once per AUDIO file, "
                 "in the same order (repeat a file to take two parts of it), or not at all.", EXIT_USAGE)
    return [Clip(path, starts[i] if starts else None, ends[i] if ends else None) for i, path in enumerate(audio)]


@speakers.command("enroll")
@click.argument("name")
@cli_audio.audio_arguments
@click.option("--start", "starts", type=click.FloatRange(min=0), multiple=True,
              help="Seconds where the person starts speaking in the file (once per AUDIO, in order).")
@click.option("--end", "ends", type=click.FloatRange(min=0), multiple=True,
              help="Seconds where that part ends (once per AUDIO, in order).")
@click.option("--local", is_flag=True,
              help="Compute it in this process without a broker (needs the worker extra). Same voiceprint.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for the worker.")
@friendly_errors
def enroll(name, audio, starts, ends, local, timeout):
    """Enrol NAME's voice from one or more AUDIO clips where only NAME speaks.

    At least a few seconds of speech in all (eight or more is better); silence and other
    voices make a poor voiceprint. Enrolling a NAME again replaces its voiceprint.

    \b
    echonote speakers enroll Diane meeting.wav --start 12.5 --end 20
    echonote speakers enroll Tom a.wav a.wav --start 0 --end 4 --start 30 --end 36
    """
    from echonote.errors import BadInput
    from echonote.results.identification import check_speaker_name

    try:
        name = check_speaker_name(name)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    clips = _clips(audio, starts, ends)
    for path in audio:
        if not path.is_file():
            fail(f"{path}: no such file", EXIT_USAGE)
    try:
        done = _enroll_local(name, clips) if local else _enroll_remote(name, clips, timeout)
    except BadInput as exc:
        fail(str(exc), EXIT_USAGE)
    again = " (replaced the earlier one)" if done["replaced"] else ""
    click.echo(f"enrolled {done['name']} for {done['user']}: {done['speech_seconds']:.1f} s of speech, "
               f"model {done['model']['name']}{again}")
    for line in done["clips"]:
        click.echo(f"  {line}", err=True)


def _enroll_remote(name, clips, timeout):
    from echonote import client
    from echonote.client.speakers import submit_enrollment

    job = submit_enrollment(name, clips)
    click.echo(f"enrolling {name}: job {job.id}", err=True)
    return client.wait(job.task_id, timeout=timeout)


def _enroll_local(name, clips):
    try:
        from echonote.worker.speaker_tasks import enroll_file
    except ImportError as exc:
        cli_audio.worker_extra_missing(exc)
    from echonote.client import current_user

    parts = [{"audio_path": str(Path(c.audio).resolve()), "start": c.start, "end": c.end} for c in clips]
    roots = [root for c in clips for root in cli_audio.local_roots(Path(c.audio))]
    return enroll_file(name, parts, current_user(), roots=roots)


@speakers.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def list_(as_json):
    """The voiceprints enrolled for you: name, seconds of speech, model, when."""
    from echonote.client import current_user
    from echonote.client.speakers import list_speakers

    rows = list_speakers()
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    if not rows:
        click.echo(f"no voiceprints for {current_user()} yet: `echonote speakers enroll NAME AUDIO` adds one")
        return
    click.echo(f"{'name':<24}{'speech s':>9}  {'model':<10}{'weights':<14}enrolled")
    for row in rows:
        when = row["created_at"].isoformat(timespec="seconds") if row["created_at"] else "-"
        click.echo(f"{row['name']:<24}{row['speech_seconds']:>9.1f}  {row['model_name']:<10}"
                   f"{row['model_sha256'][:12]:<14}{when}")


@speakers.command("remove")
@click.argument("name")
@friendly_errors
def remove(name):
    """Delete your voiceprint NAME (later jobs no longer recognise that voice)."""
    from echonote.client.speakers import list_speakers, remove_speaker

    if not remove_speaker(name):
        known = ", ".join(row["name"] for row in list_speakers()) or "none"
        fail(f"no voiceprint named {name!r} (yours: {known}); `echonote speakers list` shows them", EXIT_USAGE)
    click.echo(f"removed {name}")
