"""Exercise checks: each returns a short "well done" line, or raises :class:`NotYet` with a hint.

Light: they inspect what the learner built (a canvas, a list of nodes, a
result) and ask the running stack only when the answer has the right shape.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from echonote import names


class NotYet(AssertionError):
    """The answer is not there yet; the message says what to try."""

    def __init__(self, hint: str):
        super().__init__(f"not yet — hint: {hint}")


def _untouched(answer) -> bool:
    return answer is ... or answer is None


def check_canvas_by_name(canvas) -> str:
    """Exercise 01: a chain of at least two signatures, built from task names only."""
    from celery.canvas import Signature, _chain

    if _untouched(canvas):
        raise NotYet("build signatures with app.signature(names.PING, args=(...)) and join them with chain(a, b).")
    if not isinstance(canvas, _chain):
        raise NotYet(f"this is a {type(canvas).__name__}; join the signatures with celery.chain(...) (or a | b).")
    steps = list(canvas.tasks)
    if len(steps) < 2:
        raise NotYet("a chain needs at least two steps: add a second app.signature(...).")
    for step in steps:
        if not isinstance(step, Signature) or not isinstance(step.task, str):
            raise NotYet(f"{step!r} is not a signature by name: use app.signature('<task name>').")
        if step.task not in names.ALL_TASKS:
            raise NotYet(f"{step.task!r} is no task a worker registers; pick one of {', '.join(names.ALL_TASKS)}.")
    return f"well done: a {len(steps)}-step chain of {', '.join(s.task for s in steps)}, by name only."


def check_diarization_nodes(nodes) -> str:
    """Exercise 02: the nodes of every worker that consumes the ``diarization`` queue (two or more)."""
    from echonote import monitor

    if _untouched(nodes):
        raise NotYet("call monitor.workers() and keep w.node for each worker whose w.queues contains 'diarization'.")
    if isinstance(nodes, str) or not all(isinstance(n, str) for n in nodes):
        raise NotYet("give a list of node names (strings like 'worker@host'), not a single string or objects.")
    expected = sorted(w.node for w in monitor.workers() if names.DIARIZATION_QUEUE in w.queues)
    if sorted(nodes) != expected:
        raise NotYet(f"you listed {sorted(nodes)} but these workers consume 'diarization' now: {expected}.")
    if len(expected) < 2:
        raise NotYet("only one worker consumes 'diarization': start the second one (stack.start_worker(...)) first.")
    return f"well done: {len(expected)} workers share the diarization queue: {', '.join(expected)}."


def check_forced_result(result, audio) -> str:
    """Exercise 03: a diarize result for ``audio`` run with ``num_speakers`` set to the reference's count."""
    from echonote.lab import data

    if _untouched(result):
        raise NotYet("client.submit(names.DIARIZE, {'audio_path': str(audio), 'num_speakers': N}, ...) "
                     "then client.wait(job.task_id); N is len(data.reference_speakers(audio)).")
    if not isinstance(result, dict) or "segments" not in result:
        raise NotYet("keep what client.wait(...) returns: a dict with 'segments', not the job or the AsyncResult.")
    expected = len(data.reference_speakers(Path(audio)) or [])
    found = result.get("num_speakers", len(result.get("speakers", [])))
    if found != expected:
        raise NotYet(f"the result has {found} speakers but the reference has {expected}: pass num_speakers={expected}.")
    if Path(result.get("rttm_path", "")).stem != Path(audio).stem:
        raise NotYet(f"this result is for {Path(result.get('rttm_path', '?')).stem}, not {Path(audio).stem}.")
    return f"well done: {found} speakers, as in the reference of {Path(audio).name}."


def talk_time_of(segments: list[dict]) -> dict[str, float]:
    """Seconds each speaker talks (overlapping turns of one speaker counted once per segment)."""
    total: dict[str, float] = defaultdict(float)
    for s in segments:
        total[s["speaker"]] += s["end"] - s["start"]
    return dict(total)


def check_talk_time(talk_time, segments: list[dict]) -> str:
    """Exercise 04: ``{speaker: seconds}`` summed from the hypothesis segments."""
    if _untouched(talk_time):
        raise NotYet("loop over result['segments'] and add s['end'] - s['start'] to a dict keyed by s['speaker'].")
    if not isinstance(talk_time, dict):
        raise NotYet(f"talk_time should be a dict speaker -> seconds, got {type(talk_time).__name__}.")
    expected = talk_time_of(segments)
    if set(talk_time) != set(expected):
        raise NotYet(f"speakers should be {sorted(expected)}, got {sorted(talk_time)}.")
    wrong = {k: round(v, 2) for k, v in talk_time.items() if abs(v - expected[k]) > 0.05}
    if wrong:
        raise NotYet(f"these totals are off: {wrong}; use end - start of every segment of that speaker.")
    return "well done: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(expected.items()))


def check_words_per_speaker(words_per_speaker, result: dict) -> str:
    """Exercise 05: ``{speaker: number of words}`` counted from the attributed words."""
    if _untouched(words_per_speaker):
        raise NotYet("loop over result['words'] and count w['speaker'] in a dict (collections.Counter works too).")
    if not isinstance(words_per_speaker, dict):
        raise NotYet(f"words_per_speaker should be a dict speaker -> count, got {type(words_per_speaker).__name__}.")
    expected: dict = defaultdict(int)
    for word in result["words"]:
        expected[word["speaker"]] += 1
    if dict(words_per_speaker) != dict(expected):
        raise NotYet(f"expected {dict(expected)}, got {dict(words_per_speaker)}: count every word, keyed by its speaker.")
    return "well done: " + ", ".join(f"{k}: {v} words" for k, v in sorted(expected.items(), key=lambda kv: str(kv[0])))
