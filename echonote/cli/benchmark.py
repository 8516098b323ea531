"""``echonote benchmark``: diarize a folder of recordings with references in this process and score them."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import click

from echonote.cli.app import EXIT_RUNTIME, EXIT_USAGE, fail, friendly_errors, main


def _say(message: str) -> None:
    click.echo(message, err=True)


def _warn(message: str) -> None:
    click.secho(f"warning: {message}", fg="yellow", err=True)


def _need(module: str, what: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        fail(f"{what} needs the {extra} extra ({module} is missing): pip install 'echonote[{extra}]'", EXIT_USAGE)


@main.command()
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--backend", type=click.Choice(["offline", "pyannote"]), default=None,
              help="Diarization backend, as for `echonote diarize` (default: ECHONOTE_DIARIZATION_BACKEND).")
@click.option("--num-speakers", type=click.IntRange(min=1), help="Exact number of speakers, for every file.")
@click.option("--min-speakers", type=click.IntRange(min=1), help="At least this many speakers, for every file.")
@click.option("--max-speakers", type=click.IntRange(min=1), help="At most this many speakers, for every file.")
@click.option("--collar", "collars", type=click.FloatRange(min=0), multiple=True,
              help="Score at this collar (s) too, besides 0 and 0.25 (repeatable).")
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path),
              help="Write everything (per file, mean, total, backend, versions) here as JSON.")
@click.option("--png", type=click.Path(dir_okay=False, path_type=Path),
              help="Write one timeline per file (reference above hypothesis) here (needs matplotlib).")
@click.option("--rttm-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Write each file's hypothesis here as NAME.rttm.")
@friendly_errors
def benchmark(folder, backend, num_speakers, min_speakers, max_speakers, collars, json_out, png, rttm_dir):
    """Diarize every NAME.wav + NAME.rttm pair in FOLDER and score it: DER, speakers, speed, memory.

    Audio may be any type `echonote diarize` reads (flac, mp3, ...) when a
    same-named .rttm sits next to it; NAME.uem, when present, limits scoring
    to its regions. Runs in this process (no broker) through the same code as
    `echonote diarize --local`, with the models loaded and warmed up before the
    first file is timed. Prints one row per file, the mean over files and the
    total pooled over all files.
    """
    from echonote.results import benchmark as bench
    from echonote.worker.benchmark_run import run_pairs  # the worker's code, run here as --local does

    if min_speakers and max_speakers and min_speakers > max_speakers:
        fail(f"--min-speakers ({min_speakers}) is greater than --max-speakers ({max_speakers})", EXIT_USAGE)
    _need("torch", "benchmark", "worker")
    _need("pyannote.metrics", "benchmark", "worker")
    if png:
        _need("matplotlib", "--png", "lab")
    try:
        pairs = bench.find_pairs(folder, warn=_warn)
    except bench.BenchmarkError as exc:
        fail(str(exc), EXIT_USAGE)
    _say(f"benchmark: {len(pairs)} file(s) in {folder}")
    memory = bench.PeakMemory()
    try:
        runs, failures, info = run_pairs(pairs, backend=backend, rttm_dir=rttm_dir, progress=_say,
                                               memory=memory, num_speakers=num_speakers,
                                               min_speakers=min_speakers, max_speakers=max_speakers)
    except bench.BenchmarkError as exc:
        fail(str(exc), EXIT_USAGE)
    except ImportError as exc:
        fail(f"benchmark needs the worker extra ({exc.name} is missing): pip install 'echonote[worker]'",
              EXIT_USAGE)
    if not runs:
        fail(f"every file failed: {'; '.join(f['name'] + ': ' + f['error'] for f in failures)}", EXIT_RUNTIME)
    report = bench.summarise(runs, collars=sorted({0.0, 0.25, *collars}))
    click.echo(bench.format_table(report))
    click.echo(bench.legend(report, memory.description))
    backend_info = info.get("backend") or {}
    click.echo(f"backend {backend_info.get('backend')} on {backend_info.get('device')}")
    if json_out:
        document = {"folder": str(folder), **report, "failed": failures, **info, "environment": bench.environment()}
        click.echo(f"wrote {bench.write_json(document, json_out)}")
    if png:
        click.echo(f"wrote {bench.write_png(report, png)}")
    if rttm_dir:
        click.echo(f"wrote {len(runs)} hypothesis RTTM file(s) to {rttm_dir}")
    for failure in failures:
        click.secho(f"{failure['name']}: failed: {failure['error']}", fg="red", err=True)
    if failures:
        sys.exit(EXIT_RUNTIME)
