"""Exercise checks: each returns :class:`Feedback` — "well done …" or "not yet — hint: …" — and never raises.

A hint points to the idea, never to the value. The Celery checks verify what
really happened on the running stack (a message waiting in Redis, the worker
that ran a task, a job row, Flower's record), not the text of the answer.
Light: no torch, no numpy.
"""
from __future__ import annotations

import functools
import html
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from echonote import names


class NotYet(Exception):
    """The answer is not there yet; the message says what to look at. Shown as one line, never a traceback."""

    def __init__(self, hint: str):
        super().__init__(hint)
        self.hint = hint

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a traceback
        return [f"not yet — hint: {self.hint}"]


class Feedback:
    """A check's answer: one line of text, shown by Jupyter as a coloured box."""

    def __init__(self, ok: bool, message: str):
        self.ok, self.message = ok, message

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return self.message

    __repr__ = __str__

    def _repr_html_(self) -> str:
        colour, mark = ("#2e7d32", "✔") if self.ok else ("#b26a00", "…")
        return (f'<div style="border-left:4px solid {colour};padding:4px 10px;margin:4px 0;background:#fafafa">'
                f'<b style="color:{colour}">{mark}</b> {html.escape(self.message)}</div>')


def check(func):
    """Turn a check that returns a message or raises :class:`NotYet` into one that returns :class:`Feedback`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs) -> Feedback:
        try:
            return Feedback(True, f"well done: {func(*args, **kwargs)}")
        except NotYet as exc:
            return Feedback(False, f"not yet — hint: {exc.hint}")
        except Exception as exc:  # the learner's object broke the check: say so in one line
            return Feedback(False, f"not yet — hint: checking your answer stopped at {type(exc).__name__}: "
                                   f"{str(exc)[:160]}; look at what you stored and run the check again.")

    return wrapper


def _untouched(*answers) -> bool:
    return any(answer is ... or answer is None for answer in answers)


def _async_result(answer, what: str):
    from celery.result import AsyncResult

    if not isinstance(answer, AsyncResult):
        raise NotYet(f"{what} should be what sending returns (an AsyncResult), not a {type(answer).__name__}.")
    return answer


def _sent_to_queue(sent, queue, blank_hint: str):
    """The AsyncResult of a task the learner sent to ``queue`` (a name), or NotYet."""
    if _untouched(sent, queue):
        raise NotYet(blank_hint)
    if not isinstance(queue, str) or not queue:
        raise NotYet("the queue is a name (a string).")
    return _async_result(sent, "what you sent")


# -- 01 ---------------------------------------------------------------------------------------------------------


@check
def check_canvas_by_name(canvas) -> str:
    """A chain of at least two signatures built from task names only; the check runs it on the stack."""
    from celery.canvas import Signature, _chain

    if _untouched(canvas):
        raise NotYet("a task you cannot import is still a name: the cells above turn a name into a signature; "
                     "a chain runs signatures one after the other, each getting the previous result.")
    if not isinstance(canvas, _chain):
        raise NotYet(f"this is a {type(canvas).__name__}; which canvas primitive passes each result on to the next?")
    steps = list(canvas.tasks)
    if len(steps) < 2:
        raise NotYet("a chain of one step is just a task: add another.")
    for step in steps:
        if not isinstance(step, Signature) or not isinstance(step.task, str):
            raise NotYet(f"{type(step).__name__} is not a signature made from a task's name.")
        if step.task != names.PING:
            raise NotYet(f"{step.task!r}: build every step from the smoke task's name (it is in echonote.names).")
    reply = canvas.clone().apply_async().get(timeout=30)
    depth = 1
    while isinstance(reply.get("pong"), dict):  # each step wraps the previous reply
        reply, depth = reply["pong"], depth + 1
    if depth != len(steps):
        raise NotYet("the steps did not pass their results on: give the later steps no payload of their own.")
    return f"a {len(steps)}-step chain ran by name only; each reply nests the one before ({depth} levels)."


@check
def check_unconsumed_queue(sent, queue) -> str:
    """A task sent by name to a queue that no worker consumes: it waits in Redis and stays PENDING."""
    sent = _sent_to_queue(sent, queue, "send the smoke task by name with a routing option naming a queue you "
                                       "make up; keep what sending returns and the queue's name.")
    from echonote.ops import monitor

    listening = [w.node for w in monitor.workers() if queue in w.queues]
    if listening:
        raise NotYet(f"{listening[0]} consumes {queue!r}: make up a queue nobody listens to.")
    time.sleep(1.0)
    if sent.state != "PENDING":
        raise NotYet(f"the task is {sent.state}: something ran it, so it did not go to that queue.")
    waiting = waiting_task_ids(queue)
    if sent.id not in waiting:
        raise NotYet(f"Redis holds no message of this task in the list {queue!r}: "
                     "was it sent there (which option of send_task picks the queue)?")
    return (f"the message waits in the Redis list {queue!r} ({len(waiting)} there) and the result stays PENDING: "
            "no worker took it, so nothing can fail it either — unlike an unregistered name, which fails.")


def waiting_task_ids(queue: str) -> list[str]:
    """Ids of the task messages waiting in ``queue``'s Redis lists (every priority)."""
    from echonote.celery_app import app

    with app.connection_for_read() as conn:
        client = conn.default_channel.client
        keys = [queue, *(f"{queue}\x06\x16{p}" for p in range(10))]
        raw = [item for key in keys for item in client.lrange(key, 0, -1)]
    return [json.loads(item).get("headers", {}).get("id") for item in raw]


# -- 02 ---------------------------------------------------------------------------------------------------------


@check
def check_diarization_nodes(nodes) -> str:
    """The nodes of every worker that consumes the ``diarization`` queue (two or more)."""
    from echonote.ops import monitor

    if _untouched(nodes):
        raise NotYet("each worker monitor.workers() returns says which queues it consumes; "
                     "keep the node name of those that consume diarize's queue (see the routes).")
    if isinstance(nodes, str) or not all(isinstance(n, str) for n in nodes):
        raise NotYet("give a list of node names (strings such as 'name@host'), not one string or objects.")
    consuming = {w.node for w in monitor.workers() if names.DIARIZATION_QUEUE in w.queues}
    wrong = sorted(set(nodes) - consuming)
    if wrong:
        raise NotYet(f"{wrong[0]} does not consume the diarization queue now: filter on the queues.")
    if len(set(nodes)) < len(consuming):
        raise NotYet(f"you listed {len(set(nodes))} node(s); more workers consume that queue: look at them all.")
    if len(consuming) < 2:
        raise NotYet("only one worker consumes that queue: the second worker of the cell above is not running.")
    return f"{len(consuming)} workers share the diarization queue: {', '.join(sorted(consuming))}."


@check
def check_routed_to_own_worker(routed, queue) -> str:
    """A ping sent by name to a new queue, consumed only by a worker started for it: the reply names that worker."""
    routed = _sent_to_queue(routed, queue, "start a worker of your own that consumes only a new queue, send the "
                                           "smoke task by name to that queue, and keep what sending returns and "
                                           "the queue's name.")
    if queue in set(names.ROUTES.values()):
        raise NotYet("use a new queue (a name of your own): the stack's workers already consume the built-in ones.")
    from echonote.ops import monitor

    workers = monitor.workers()
    consumers = [w for w in workers if queue in w.queues]
    if not consumers:
        raise NotYet(f"no worker consumes {queue!r}: start one whose queues are just that one.")
    mixed = [w for w in consumers if set(w.queues) != {queue}]
    if mixed:
        raise NotYet(f"{mixed[0].node} also consumes other queues, so where a task ran proves nothing: "
                     "give your worker only the new queue.")
    reply = routed.get(timeout=30)
    ran_on = reply.get("worker") if isinstance(reply, dict) else None
    if ran_on not in {w.node for w in consumers}:
        raise NotYet(f"{ran_on} ran it, and it does not consume {queue!r}: route the message to your queue.")
    others = len(workers) - len(consumers)
    return f"{ran_on} ran it: the only consumer of {queue!r} (the other {others} worker(s) never saw it)."


# -- 03 ---------------------------------------------------------------------------------------------------------


@check
def check_forced_result(result, audio) -> str:
    """A diarize result for ``audio`` run with the number of speakers set to the reference's count."""
    from echonote.lab import data

    if _untouched(result):
        raise NotYet("the reference next to the audio says how many people talk; diarize accepts that count "
                     "as one of its keyword arguments; wait for the job and keep what the wait returns.")
    if not isinstance(result, dict) or "segments" not in result:
        raise NotYet("keep what waiting for the job returns (a dict with 'segments'), not the job or the AsyncResult.")
    if Path(result.get("rttm_path", "")).stem != Path(audio).stem:
        raise NotYet("this result is for another file: submit the audio this exercise names.")
    expected = len(data.reference_speakers(Path(audio)) or [])
    found = result.get("num_speakers", len(result.get("speakers", [])))
    if found != expected:
        raise NotYet(f"the result has {found} speakers, not the reference's count: count the reference's labels "
                     "and pass that number to the task.")
    return f"{found} speakers, as in the reference of {Path(audio).name}."


@check
def check_stranded_job(stranded, report, rescued) -> str:
    """A job stranded by a dead worker, found in the job table, requeued by the janitor's name and finished."""
    from echonote import db

    if _untouched(stranded, report, rescued):
        raise NotYet("a stranded job's row says 'started' but the worker it names no longer answers; the janitor "
                     "(a task, sent by name) puts its message back in its queue; then something must consume it.")
    if not isinstance(stranded, db.Job):
        raise NotYet(f"stranded should be the job row you found (a db.Job), not a {type(stranded).__name__}.")
    if not isinstance(report, dict) or "requeued" not in report:
        raise NotYet("report should be what the janitor task returned (a dict with 'requeued').")
    if stranded.task_id not in report["requeued"]:
        raise NotYet("the janitor's report does not list that job as requeued: was its worker really gone and "
                     "its row still 'started' when it ran? (Beat's own janitor may have been first: run the "
                     "setup cell again.)")
    row = db.get_job(stranded.id)
    if row is None or row.status != db.SUCCEEDED:
        raise NotYet(f"the job row is {getattr(row, 'status', 'missing')}: requeued messages go back to their own "
                     "queue; which worker consumes it now?")
    first = (stranded.worker or "").partition(":")[0]
    ran_on = rescued.get("worker") if isinstance(rescued, dict) else None
    if not ran_on or ran_on == first:
        raise NotYet("rescued should be the finished job's result, from a worker other than the dead one.")
    return f"job {stranded.id} was stranded on {first}, requeued by the janitor and finished on {ran_on}."


# -- 04 ---------------------------------------------------------------------------------------------------------


def talk_time_of(segments: list[dict]) -> dict[str, float]:
    """Seconds each speaker talks (every segment counted)."""
    total: dict[str, float] = defaultdict(float)
    for s in segments:
        total[s["speaker"]] += s["end"] - s["start"]
    return dict(total)


@check
def check_talk_time(talk_time, segments: list[dict]) -> str:
    """``{speaker: seconds}`` summed from the segments."""
    if _untouched(talk_time):
        raise NotYet("each segment is one speaker talking from start to end: add up its length per speaker.")
    if not isinstance(talk_time, dict):
        raise NotYet(f"talk_time should be a dict speaker -> seconds, got {type(talk_time).__name__}.")
    expected = talk_time_of(segments)
    if set(talk_time) != set(expected):
        raise NotYet(f"you have {len(talk_time)} key(s): the keys should be exactly the speaker labels "
                     "the segments use, one per speaker.")
    off = sorted(k for k, v in talk_time.items() if abs(v - expected[k]) > 0.05)
    if off:
        raise NotYet(f"the total of {off[0]} is off: every segment of that speaker counts, each for end - start.")
    return ", ".join(f"{k} {v:.1f} s" for k, v in sorted(expected.items()))


@check
def check_flower_record(runtime, worker, task_id: str) -> str:
    """The runtime and worker of a task as Flower recorded them from the workers' events."""
    if _untouched(runtime, worker):
        raise NotYet("Flower keeps what the workers' events said about each task: ask its REST API about one "
                     "task by its id (Flower's docs list the endpoints).")
    from echonote.ops import monitor

    info = monitor.flower_get(f"/api/task/info/{task_id}")
    if not isinstance(runtime, (int, float)) or abs(runtime - float(info.get("runtime") or -1)) > 1e-3:
        raise NotYet("that is not the runtime Flower recorded for this task (seconds, a number).")
    if worker != info.get("worker"):
        raise NotYet("that is not the worker Flower recorded for this task (a node name).")
    if worker not in {w.node for w in monitor.workers()}:
        raise NotYet("that worker does not answer now: is it the node Flower names?")
    return f"{info.get('name')} ran {runtime:.2f} s on {worker}, as the worker's events told Flower."


# -- 05 ---------------------------------------------------------------------------------------------------------


@check
def check_words_per_speaker(words_per_speaker, result: dict) -> str:
    """``{speaker: number of words}`` counted from the attributed words."""
    if _untouched(words_per_speaker):
        raise NotYet("every word of the result carries its speaker: count words per speaker in a dict.")
    if not isinstance(words_per_speaker, dict):
        raise NotYet(f"words_per_speaker should be a dict speaker -> count, got {type(words_per_speaker).__name__}.")
    expected = Counter(word["speaker"] for word in result["words"])
    if set(words_per_speaker) != set(expected):
        raise NotYet(f"you have {len(words_per_speaker)} key(s): use the speaker label of every word as the key.")
    off = sorted((k for k, v in words_per_speaker.items() if v != expected[k]), key=str)
    if off:
        raise NotYet(f"the count of {off[0]} is off: count every word once, under its own speaker.")
    return ", ".join(f"{k}: {v} words" for k, v in sorted(expected.items(), key=lambda kv: str(kv[0])))


@check
def check_partial_chord(outcome, partial) -> str:
    """A chord whose callback failed because a part failed, and the parts' own results still read back."""
    if _untouched(outcome, partial):
        raise NotYet("build a chord by names in which one part is refused by the worker; its callback fails, "
                     "yet every part stored its own result: the chord's result knows its header group.")
    outcome = _async_result(outcome, "outcome")
    outcome.get(timeout=60, propagate=False)
    if outcome.state != "FAILURE":
        raise NotYet(f"the chord's callback ended {outcome.state}: make one part fail (give it an argument "
                     "the task refuses).")
    header = outcome.parent
    if header is None or not getattr(header, "results", None):
        raise NotYet("this result has no header group: send a chord (a group of parts plus a callback).")
    parts = header.results
    if not any(p.successful() for p in parts) or all(p.successful() for p in parts):
        raise NotYet("let some parts succeed and at least one fail.")
    if not isinstance(partial, list) or len(partial) != len(parts):
        raise NotYet(f"partial should be a list with one entry per part ({type(partial).__name__} given).")
    for got, part in zip(partial, parts, strict=True):  # lengths checked above
        if part.successful() and got != part.result:
            raise NotYet("an entry of a part that succeeded is not its result: read them without re-raising errors.")
        if part.failed() and not isinstance(got, BaseException):
            raise NotYet("the entry of the failed part should be its exception, as the backend stored it.")
    good = sum(p.successful() for p in parts)
    return (f"the callback failed ({type(outcome.result).__name__}) but {good} of {len(parts)} parts' results "
            "were read back from the result backend.")


# -- 06 ---------------------------------------------------------------------------------------------------------


@check
def check_speakers_from_store(rttm_speakers, result) -> str:
    """The speaker labels of a job's RTTM, read from the store by the URI its result lists."""
    if _untouched(rttm_speakers):
        raise NotYet("the result says where its outputs went (addresses in the store); echonote.storage reads an "
                     "object's text on any machine; in an RTTM file each SPEAKER line names its speaker.")
    if isinstance(rttm_speakers, str) or not isinstance(rttm_speakers, (set, list, tuple, frozenset)):
        raise NotYet(f"rttm_speakers should be a set of labels, not a {type(rttm_speakers).__name__}.")
    uri = result.get("rttm_uri") if isinstance(result, dict) else None
    if not uri:
        raise NotYet("this result lists no RTTM in the store: run the job above with ECHONOTE_STORAGE_URL set.")
    from echonote import storage

    lines = [line.split() for line in storage.read_text(uri).splitlines() if line.startswith("SPEAKER")]
    expected = {fields[7] for fields in lines}
    if set(rttm_speakers) != expected:
        raise NotYet(f"you have {len(set(rttm_speakers))} label(s) and they are not the file's: read the RTTM "
                     "from the store (not a local path) and keep the speaker field of every SPEAKER line.")
    return f"{len(expected)} speakers in {uri}, read from the store: no machine needed the worker's disk."


@check
def check_sent_by_uri(by_uri, queue=None) -> str:
    """A diarization sent by name with only an s3:// URI, run by the worker that shares no folder with the kernel."""
    from echonote.lab import other_machine

    queue = queue or other_machine.QUEUE
    by_uri = _sent_to_queue(by_uri, queue, "put the file in the store first (echonote.storage has the function "
                                           "that uploads once per content), then send diarize by name to the other "
                                           f"machine's queue ({queue!r}) with nothing but the object's address; "
                                           "keep what sending returns.")
    from echonote.lab import store_view
    from echonote.ops import monitor

    consumers = {w.node for w in monitor.workers() if queue in w.queues}
    if not consumers:
        raise NotYet(f"no worker consumes {queue!r}: is the other machine's worker still running?")
    result = by_uri.get(timeout=600, propagate=False)
    if by_uri.failed():
        raise NotYet(f"the worker refused the job ({type(result).__name__}: {str(result)[:160]}): send an address "
                     "it can fetch.")
    record = store_view.flower_record(by_uri.id)
    sent = str(record.get("kwargs") or "")
    if "s3://" not in sent:
        raise NotYet("the message carried no s3:// address: a path on this machine means nothing to another one; "
                     "send the URI the upload gave you.")
    if record.get("worker") not in consumers:
        raise NotYet(f"{record.get('worker')} ran it, not a consumer of {queue!r}: route it to the other machine.")
    outputs = [result.get(key) for key in ("rttm_uri", "result_uri") if isinstance(result, dict) and result.get(key)]
    if not outputs or not all(str(uri).startswith("s3://") for uri in outputs):
        raise NotYet("the result lists no outputs in the store: is ECHONOTE_STORAGE_URL set for the other machine?")
    return (f"{record['worker']} fetched the audio by its address and wrote {', '.join(outputs)} back to the "
            f"store; the whole kwargs were {len(sent)} characters.")
