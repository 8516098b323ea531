"""``echonote diarize`` and ``echonote evaluate``: the diarization commands (light unless --local)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from echonote.cli import audio as cli_audio
from echonote.cli.app import EXIT_USAGE, fail, friendly_errors, main


def _summary(label: str, result: dict) -> str:
    speakers = ", ".join(f"{s['speaker']} {s['speech']:.1f}s" + (f" (similarity {s['score']:.2f})"
                                                                 if s.get("score") is not None else "")
                         for s in result["speakers"]) or "none"
    note = f" ({result['note']})" if result.get("note") else ""
    return (f"{label}: {result['num_speakers']} speaker(s) [{speakers}] in {result['duration']:.1f} s of audio, "
            f"{len(result['segments'])} turns, overlap {result['overlap']:.1f} s, "
            f"RTF {result.get('rtf') or 0:.3f}{note}\n"
            f"  rttm: {result['rttm_path']}\n  json: {result['result_path']}"
            + "".join(f"\n{line}" for line in cli_audio.identification_lines(result)))


def _copy_out(result: dict, rttm: Path | None, json_path: Path | None, many: bool) -> None:
    for wanted, key in ((rttm, "rttm_path"), (json_path, "result_path")):
        if wanted:
            if many:
                wanted.mkdir(parents=True, exist_ok=True)
            cli_audio.copy_result(cli_audio.result_file(result, key, key.replace("_path", "_uri")), wanted)


@main.command()
@cli_audio.audio_arguments
@cli_audio.speaker_options
@cli_audio.identify_option
@click.option("--backend", type=click.Choice(["offline", "pyannote"]), default=None,
              help="offline: bundled weights (default, ECHONOTE_DIARIZATION_BACKEND); "
                   "pyannote: ECHONOTE_PYANNOTE_PIPELINE.")
@cli_audio.wait_option
@click.option("--rttm", type=click.Path(path_type=Path),
              help="Also copy the RTTM here (a directory for several files).")
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also copy the JSON result here.")
@click.option("--local", is_flag=True,
              help="Run in this process without a broker (needs the worker extra). Same output.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds to wait for all files.")
@friendly_errors
def diarize(audio, num_speakers, min_speakers, max_speakers, identify, backend, wait, rttm, json_out, local,
            timeout):
    """Who spoke when in each AUDIO file (wav, flac, ogg, mp3, m4a, webm ...).

    By default the files are sent by name to the worker through the stack
    (`echonote up` first), with a progress bar per file. Files outside the data
    roots are stored in the upload root first (once per content).

    With an object store (ECHONOTE_STORAGE_URL=s3://bucket) each file is
    uploaded there instead (once per content, with a progress bar) and the
    worker, on any machine, fetches it by URI. AUDIO may itself be a URI,
    s3://bucket/key or https://..., sent as it is (also with --local).
    """
    cli_audio.check_request(audio, min_speakers, max_speakers, wait=wait, local=local,
                            copy_flags={"--rttm": rttm, "--json": json_out})
    options = {"num_speakers": num_speakers, "min_speakers": min_speakers, "max_speakers": max_speakers,
               "backend": backend}
    if local:
        results = _run_local(audio, options, identify)
    else:
        results = _run_remote(audio, {**options, "identify": identify}, wait, timeout)
        if results is None:
            return

    def show(path, result):
        click.echo(_summary(str(path), result))
        _copy_out(result, rttm, json_out, many=len(audio) > 1)

    cli_audio.report_outcomes(audio, results, show)


def _run_remote(audio, options, wait, timeout):
    from echonote import client
    from echonote.client.terminal import Tracked, follow

    tracked = []
    for path, staged in zip(audio, cli_audio.stage_for_workers(audio), strict=True):
        job = client.submit_diarization(staged, **options)
        cli_audio.announce(path, job.id, wait)
        tracked.append(Tracked(path.name, job.task_id))
    if not wait:
        return None
    follow(tracked, timeout=timeout, out=sys.stderr)
    return [t.error if t.error else t.value for t in tracked]


def _run_local(audio, options, identify=False):
    try:
        from echonote.worker.diarization import diarize_file
    except ImportError as exc:
        cli_audio.worker_extra_missing(exc)
    from echonote import client
    from echonote.errors import BadInput
    from echonote.worker.diarization import STEP_SPANS
    from echonote.worker.progress import local_progress

    results = []
    for path in audio:
        try:  # the same weighted percent and ETA a worker publishes through the stack
            results.append(diarize_file(str(path.resolve()), progress=local_progress(path.name, STEP_SPANS),
                                        roots=cli_audio.local_roots(path), source_name=path.name,
                                        identify_for=client.current_user() if identify else None, **options))
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
        fail("--collar must be >= 0", EXIT_USAGE)
    try:
        from echonote.results.der import evaluate as score
    except ImportError as exc:
        fail(f"evaluate needs pyannote.metrics ({exc.name} is missing): pip install 'echonote[worker]'", EXIT_USAGE)
    try:
        report = score(reference, hypothesis, uem=uem, collar=collar, skip_overlap=skip_overlap)
    except (ValueError, FileNotFoundError) as exc:
        fail(f"cannot score: {exc}", EXIT_USAGE)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    click.echo(f"collar {collar:g} s, overlap {'skipped' if skip_overlap else 'scored'}; "
               f"reference speech {report['reference_speech']:.1f} s")
    for key, label in (("der", "DER"), ("missed", "  missed"), ("false_alarm", "  false alarm"),
                       ("confusion", "  confusion"), ("jer", "JER")):
        click.echo(f"{label:<14}{100 * report[key]:6.2f} %")
