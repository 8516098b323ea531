"""``echonote diarize`` and ``echonote evaluate``: the diarization commands (light unless --local)."""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import click

from echonote import config, names
from echonote.cli import EXIT_RUNTIME, EXIT_USAGE, _fail, friendly_errors, main


def _audio_seconds(path: Path) -> float:
    from echonote.audio_info import duration_seconds

    seconds = duration_seconds(path)
    # nothing could measure it here (no ffmpeg, unknown format): guess from the size at 128 kbit/s;
    # the worker settles the charge with what it decodes either way
    return seconds if seconds is not None else path.stat().st_size / 16000


def _summary(label: str, result: dict) -> str:
    speakers = ", ".join(f"{s['speaker']} {s['speech']:.1f}s" for s in result["speakers"]) or "none"
    note = f" ({result['note']})" if result.get("note") else ""
    return (f"{label}: {result['num_speakers']} speaker(s) [{speakers}] in {result['duration']:.1f} s of audio, "
            f"{len(result['segments'])} turns, overlap {result['overlap']:.1f} s, RTF {result.get('rtf') or 0:.3f}{note}\n"
            f"  rttm: {result['rttm_path']}\n  json: {result['result_path']}")


def _copy_out(result: dict, rttm: str | None, json_path: str | None, many: bool) -> None:
    for wanted, key, ext in ((rttm, "rttm_path", ".rttm"), (json_path, "result_path", ".json")):
        if not wanted:
            continue
        target = Path(wanted)
        if many or target.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            target = target / Path(result[key]).name
        shutil.copyfile(result[key], target)
        click.echo(f"  wrote {target}")


@main.command()
@click.argument("audio", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers, if known.")
@click.option("--min-speakers", type=click.IntRange(min=1), help="At least this many speakers.")
@click.option("--max-speakers", type=click.IntRange(min=1), help="At most this many speakers.")
@click.option("--backend", type=click.Choice(["offline", "pyannote"]), default=None,
              help="offline: bundled weights (default, ECHONOTE_DIARIZATION_BACKEND); pyannote: ECHONOTE_PYANNOTE_PIPELINE.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow progress and print results.")
@click.option("--rttm", type=click.Path(path_type=Path), help="Also copy the RTTM here (a directory for several files).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also copy the JSON result here.")
@click.option("--local", is_flag=True, help="Run in this process without a broker (needs the worker extra). Same output.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for all files.")
@friendly_errors
def diarize(audio, num_speakers, min_speakers, max_speakers, backend, wait, rttm, json_out, local, timeout):
    """Who spoke when in each AUDIO file (wav, flac, ogg, mp3, m4a, webm ...).

    By default the files are sent by name to the worker through the stack
    (`echonote up` first), with a progress bar per file. Files outside the data
    roots are copied into the upload root first.
    """
    if not wait and not local and (rttm or json_out):
        _fail("--rttm/--json copy the results once the jobs finish, but --no-wait returns before that. Drop "
              "--no-wait, or leave out --rttm/--json and read the files from the results folder later "
              "(`echonote status` shows the stack; each job's files are named in its result).", EXIT_USAGE)
    if min_speakers and max_speakers and min_speakers > max_speakers:
        _fail(f"--min-speakers ({min_speakers}) is greater than --max-speakers ({max_speakers})", EXIT_USAGE)
    for path in audio:
        if not path.is_file():
            _fail(f"{path}: no such file", EXIT_USAGE)
    options = {"num_speakers": num_speakers, "min_speakers": min_speakers, "max_speakers": max_speakers,
               "backend": backend}
    if local:
        results = _run_local(audio, options)
    else:
        results = _run_remote(audio, options, wait, timeout)
        if results is None:
            return
    failed = 0
    for path, outcome in zip(audio, results):
        if isinstance(outcome, BaseException):
            failed += 1
            click.secho(f"{path}: failed: {outcome}", fg="red", err=True)
            continue
        click.echo(_summary(str(path), outcome))
        _copy_out(outcome, rttm, json_out, many=len(audio) > 1)
    if failed:
        sys.exit(EXIT_RUNTIME)


def _run_remote(audio, options, wait, timeout):
    from echonote import client, uploads
    from echonote.progress_display import Tracked, follow

    tracked = []
    for path in audio:
        try:
            staged = uploads.stage(path)
        except ValueError as exc:
            _fail(str(exc), EXIT_USAGE)
        if staged != path.resolve():
            click.echo(f"{path}: copied to {staged} (workers read only under the data/upload roots)", err=True)
        job = client.submit(names.DIARIZE, {"audio_path": str(staged), **options}, kind="diarize",
                            audio_path=str(staged), audio_seconds=_audio_seconds(staged))
        click.echo(f"{path}: job {job.id}", err=True)
        tracked.append(Tracked(path.name, job.task_id))
    if not wait:
        return None
    follow(tracked, timeout=timeout, out=sys.stderr)
    return [t.error if t.error else t.value for t in tracked]


def _run_local(audio, options):
    try:
        from echonote.worker.diarization import diarize_file
    except ImportError as exc:
        _fail(f"--local needs the worker extra ({exc.name} is missing): pip install 'echonote[worker]'", EXIT_USAGE)
    from echonote.errors import BadInput

    cfg = config.load()
    results = []
    for path in audio:
        with click.progressbar(length=100, label=path.name[:28], file=sys.stderr, show_percent=True) as bar:
            done = [0]

            def progress(step, completed, total, _bar=bar, _done=done):
                from echonote.worker.diarization import STEP_SPANS

                start, end = STEP_SPANS.get(step, (_done[0], _done[0]))
                now = int(start + (end - start) * (completed / total if total else 1))
                if now > _done[0]:
                    _bar.update(now - _done[0])
                    _done[0] = now

            try:
                # --local reads the files its user names: the roots guard a shared worker, not one's own shell
                target = path.resolve()
                roots = [*cfg.audio_roots, target.parent]
                results.append(diarize_file(str(target), progress=progress, roots=roots, **options))
            except BadInput as exc:
                results.append(exc)
    return results


@main.command()
@click.argument("hypothesis", type=click.Path(exists=True, dir_okay=False))
@click.argument("reference", type=click.Path(exists=True, dir_okay=False))
@click.option("--uem", type=click.Path(exists=True, dir_okay=False), help="Scored regions (UEM file).")
@click.option("--collar", type=float, default=0.0, show_default=True,
              help="No-score zone (seconds, total width) around each reference boundary.")
@click.option("--skip-overlap", is_flag=True, help="Do not score overlapped speech.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@friendly_errors
def evaluate(hypothesis, reference, uem, collar, skip_overlap, as_json):
    """DER (missed, false alarm, confusion) and JER of HYPOTHESIS.rttm against REFERENCE.rttm."""
    if collar < 0:
        _fail("--collar must be >= 0", EXIT_USAGE)
    try:
        from echonote.evaluation import evaluate as score
    except ImportError as exc:
        _fail(f"evaluate needs pyannote.metrics ({exc.name} is missing): pip install 'echonote[worker]'", EXIT_USAGE)
    try:
        report = score(reference, hypothesis, uem=uem, collar=collar, skip_overlap=skip_overlap)
    except (ValueError, FileNotFoundError) as exc:
        _fail(f"cannot score: {exc}", EXIT_USAGE)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"collar {collar:g} s, overlap {'skipped' if skip_overlap else 'scored'}; "
               f"reference speech {report['reference_speech']:.1f} s")
    for key, label in (("der", "DER"), ("missed", "  missed"), ("false_alarm", "  false alarm"),
                       ("confusion", "  confusion"), ("jer", "JER")):
        click.echo(f"{label:<14}{100 * report[key]:6.2f} %")
