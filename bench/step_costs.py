"""How long each diarization step takes, as a share of the whole: the weights of the progress bar.

Runs the offline backend in this process (models loaded and warmed up first) on a synthetic
conversation and records every progress call; a step lasts from its first call to the first call
of the next step. Prints one row per step (seconds, share) and the spans for
``echonote.worker.diarization.STEP_WEIGHTS``.

    .venv/bin/python bench/step_costs.py --seconds 180 --runs 2
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path


def one_run(path: Path, roots, out_dir: Path) -> list[tuple[float, str, int, int]]:
    from echonote.worker.diarization import diarize_file

    events: list[tuple[float, str, int, int]] = []
    diarize_file(str(path), progress=lambda step, done, total: events.append((time.perf_counter(), step, done, total)),
                 out_dir=out_dir, roots=roots)
    return events


def step_seconds(events) -> dict[str, float]:
    """Seconds from each step's first call to the next step's first call (the last step ends at the last call)."""
    firsts = []
    for at, step, _, _ in events:
        if not firsts or firsts[-1][1] != step:
            firsts.append((at, step))
    spent: dict[str, float] = defaultdict(float)
    for (at, step), (following, _) in zip(firsts, firsts[1:] + [(events[-1][0], "")], strict=False):
        spent[step] += following - at
    return dict(spent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the synthetic conversation")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--audio", type=Path, help="a recording of your own instead of the synthetic one")
    args = parser.parse_args()
    from echonote.testing import synth
    from echonote.worker.backends import get_backend

    work = Path(tempfile.mkdtemp(prefix="step-costs-"))
    path = args.audio or synth.conversation_file(work, "steps", seed=7, duration=args.seconds, num_speakers=3)
    get_backend("offline", device="cpu")  # load and warm up first: a worker does it once, not per job
    totals: dict[str, float] = defaultdict(float)
    for _ in range(args.runs):
        for step, seconds in step_seconds(one_run(path, [path.parent], work / "out")).items():
            totals[step] += seconds / args.runs
    whole = sum(totals.values())
    for step, seconds in totals.items():
        print(f"{step:<20} {seconds:7.2f} s  {100 * seconds / whole:5.1f} %")
    print(json.dumps({step: round(100 * seconds / whole, 1) for step, seconds in totals.items()}))


if __name__ == "__main__":
    main()
