"""`make demo`: diarize pyannote's sample recording through the real stack.

Starts the stack (private Redis, worker, beat, Flower), submits the sample by
task name with a progress bar, and prints the speaker timeline, the DER
against the sample's reference, where the RTTM/JSON and a timeline PNG were
written, and the Flower URL. The stack stays up (``make down`` stops it).

    python -m echonote.ops.demo
"""
from __future__ import annotations

import sys
from pathlib import Path

from echonote import client, names
from echonote.client.terminal import Tracked, follow
from echonote.ops.stack import Stack, StackError
from echonote.results import plots, samples


def main() -> int:
    print("1. starting the stack: private Redis, worker, beat, Flower ...")
    try:
        stack = Stack(detach=True).up()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("   " + ", ".join(f"{row.role} (pid {row.pid})" for row in stack.status()))

    sample = samples.ensure_pyannote_sample()
    print(f"2. submitting {sample['wav'].name} by name ({names.DIARIZE!r}); the first job loads the models ...")
    job = client.submit_diarization(sample["wav"], user="demo")
    [tracked] = follow([Tracked(sample["wav"].name, job.task_id)], timeout=1800)
    if tracked.error:
        print(f"error: the job failed: {tracked.error}\n(see `echonote logs worker`)", file=sys.stderr)
        return 1
    result = tracked.value

    reference = plots.read_rttm(sample["rttm"])
    mapping = plots.map_speakers(result["segments"], reference)
    print(f"\n3. speaker timeline ({result['num_speakers']} speakers, {result['duration']:.0f} s; "
          f"diarized in {result['timings']['diarize']:.1f} s, RTF {result['rtf']:.3f}, backend {result['backend']})")
    print("   reference:")
    print(plots.ascii_timeline(reference, result["duration"]))
    print("   echonote (labels matched to the reference):")
    print(plots.ascii_timeline(plots.relabel(result["segments"], mapping), result["duration"]))

    from echonote.results.der import evaluate

    for collar in (0.0, 0.25):
        s = evaluate(str(sample["rttm"]), result, collar=collar)
        print(f"   DER (collar {collar:g} s, overlap scored): {100 * s['der']:.1f} %  "
              f"[missed {100 * s['missed']:.1f}, false alarm {100 * s['false_alarm']:.1f}, "
              f"confusion {100 * s['confusion']:.1f}]")

    png = plots.save_timeline(Path(result["result_path"]).with_suffix(".png"), result["segments"], reference,
                              duration=result["duration"], title=f"{sample['wav'].name}: reference vs echonote")
    print(f"\n4. results\n   rttm: {result['rttm_path']}\n   json: {result['result_path']}\n   png:  {png}")
    print(f"\nFlower: {stack.flower_url()}  ({stack.flower_login()}; task {job.task_id})   "
          "stop everything with: make down")
    return 0


if __name__ == "__main__":
    sys.exit(main())
