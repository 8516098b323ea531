"""What ``echonote diarize`` and ``echonote transcribe`` share: speaker options, input checks,
staging for the workers, announcing jobs and copying results out."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import click

# The exit codes and the one-line error live in echonote.cli, which imports the command modules
# that use this one: it is imported inside the functions, so any module may be imported first.


def _usage_error(message: str):
    from echonote.cli.app import EXIT_USAGE, fail

    fail(message, EXIT_USAGE)


def speaker_options(func):
    """--num-speakers, --min-speakers and --max-speakers, passed on as ``num_speakers`` etc."""
    for flag, text in (("--max-speakers", "At most this many speakers."),
                       ("--min-speakers", "At least this many speakers."),
                       ("--num-speakers", "Exact number of speakers, if known.")):
        func = click.option(flag, type=click.IntRange(min=1), help=text)(func)
    return func


class AudioURI(str):
    """An AUDIO argument that names an object (s3://bucket/key, https://...): sent as is, never opened here."""

    @property
    def name(self) -> str:
        from echonote import storage

        return storage.parse(self).name

    def resolve(self) -> AudioURI:
        return self


class AudioParam(click.ParamType):
    """A local audio file (a Path) or an object's URI (an :class:`AudioURI`)."""

    name = "audio"

    def convert(self, value, param, ctx):
        from echonote import storage

        if isinstance(value, str) and storage.is_uri(value):
            if value.lower().startswith("file://"):
                return Path(storage.parse(value).path)
            return AudioURI(value)
        return click.Path(dir_okay=False, path_type=Path).convert(value, param, ctx)


def audio_arguments(func):
    """One or more AUDIO files: local paths, or objects as s3://bucket/key or https://... (sent as is)."""
    return click.argument("audio", nargs=-1, required=True, type=AudioParam())(func)


def identify_option(func):
    """--identify: name found speakers after the user's voiceprints (``echonote speakers enroll``)."""
    return click.option("--identify", is_flag=True,
                        help="Call recognised speakers by their enrolled names (`echonote speakers enroll`); "
                             "the others stay SPEAKER_NN. Each speaker's similarity score is in the JSON.")(func)


def identification_lines(result: dict) -> list[str]:
    """What --identify did, for people: voiceprints left out (another model) and a note when none applied."""
    found = result.get("identification") or {}
    lines = [f"  voiceprint {r['name']} not used: {r['reason']}" for r in found.get("refused", [])]
    if found.get("note"):
        lines.append(f"  {found['note']}")
    return lines


def wait_option(func):
    return click.option("--wait/--no-wait", default=True, show_default=True,
                        help="Follow progress and print results; --no-wait prints the command that follows each "
                             "job.")(func)


def check_request(audio, min_speakers, max_speakers, *, wait: bool, local: bool, copy_flags: dict) -> None:
    """Refuse, before anything is sent, what cannot work: missing files, min > max, copies with --no-wait."""
    given = [flag for flag, value in copy_flags.items() if value]
    if not wait and not local and given:
        _usage_error(f"{'/'.join(given)} copy the results once the jobs finish, but --no-wait returns before that. "
                     f"Drop --no-wait, or leave out {'/'.join(given)} and copy them later with "
                     "`echonote job ID --out DIR`.")
    if min_speakers and max_speakers and min_speakers > max_speakers:
        _usage_error(f"--min-speakers ({min_speakers}) is greater than --max-speakers ({max_speakers})")
    for path in audio:
        if not isinstance(path, AudioURI) and not path.is_file():
            _usage_error(f"{path}: no such file")


def stage_for_workers(audio) -> list:
    """Each file where workers may read it, measured (:func:`echonote.client.stage_audio`), all before any
    job is sent; the broker is asked first, so a down one copies nothing. A file no job could take
    (not audio, empty, too long) is a usage error."""
    from echonote import client
    from echonote.client.terminal import TransferBar

    client.check_broker()
    staged = []
    for path in audio:
        try:
            found = client.stage_audio(path, source_name=path.name, progress=TransferBar(f"upload {path.name}"))
        except client.BadAudio as exc:
            _usage_error(str(exc))
        if found.uri and found.uri != str(path):
            click.echo(f"{path}: in the object store as {found.uri}", err=True)
        elif not found.uri and found.path != path.resolve():
            click.echo(f"{path}: stored as {found.path} (workers read only under the data/upload roots)", err=True)
        staged.append(found)
    return staged


def follow_command(job_id: str) -> str:
    return f"echonote job {job_id} --wait"


def announce(path: Path, job_id: str, wait: bool) -> None:
    """Say which job carries ``path``; without waiting, also the exact command that follows it."""
    click.echo(f"{path}: job {job_id}", err=True)
    if not wait:
        click.echo(f"  follow it with: {follow_command(job_id)}")


def result_file(result: dict, path_key: str, uri_key: str) -> str:
    """Where to read one of a job's output files: its URI in the object store when the worker wrote one
    there (the worker may be another machine), else its path."""
    return result.get(uri_key) or result[path_key]


def copy_result(source: str | Path, target: Path) -> Path:
    """Copy a result file (a path, or an object's URI) to ``target`` (a folder keeps the file's name) and say
    where it went."""
    from echonote import storage

    if target.is_dir():
        target = target / storage.parse(str(source)).name
    target.parent.mkdir(parents=True, exist_ok=True)
    if storage.is_uri(str(source)):
        target.write_text(storage.read_text(str(source)), encoding="utf-8")
    else:
        shutil.copyfile(source, target)
    click.echo(f"  wrote {target}")
    return target


def report_outcomes(audio, outcomes, show) -> None:
    """``show(path, value)`` for each success; failures on stderr, then exit 1 if there were any."""
    failed = 0
    for path, outcome in zip(audio, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            failed += 1
            click.secho(f"{path}: failed: {outcome}", fg="red", err=True)
        else:
            show(path, outcome)
    if failed:
        from echonote.cli.app import EXIT_RUNTIME

        sys.exit(EXIT_RUNTIME)


def local_roots(path: Path) -> list[Path]:
    """--local reads the files its user names: the roots guard a shared worker, not one's own shell."""
    from echonote import config

    if isinstance(path, AudioURI):
        return [*config.load().audio_roots, str(path)]  # the object the user named (a URI prefix), whatever the store
    return [*config.load().audio_roots, path.resolve().parent]


def worker_extra_missing(exc: ImportError):
    _usage_error(f"--local needs the worker extra ({exc.name} is missing): pip install 'echonote[worker]'")
