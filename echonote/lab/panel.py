"""The submission panel (ipywidgets): choose or upload audio, set speakers and backend, submit, follow, cancel.

Jobs go through :func:`echonote.client.submit_diarization` — the file staged
and measured, the quota charged what was measured, a job row, the task sent
by name — so the panel never imports task code. One progress bar per job
is fed by the task's PROGRESS states from a background thread; finished jobs
fill the results table. :meth:`SubmissionPanel.wait` blocks until every job is
done, for notebooks run top to bottom without a person clicking.
"""
from __future__ import annotations

import html
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ipywidgets as w

from echonote import client, config, db, names
from echonote.client import uploads
from echonote.lab import data
from echonote.lab.tables import Table
from echonote.ops.waiting import wait_until

BACKENDS = ("offline", "pyannote")


@dataclass
class JobView:
    """One submitted job and the widgets that show it."""

    label: str  # file name and short job id: two jobs on one file never look alike
    audio: Path
    job_id: str
    task_id: str
    submitted: float = field(default_factory=time.monotonic)
    done: bool = False
    result: dict | None = None
    error: str | None = None
    state: str = "PENDING"
    percent: float = 0.0
    bar: Any = None
    status: Any = None
    cancel_button: Any = None
    box: Any = None


class SubmissionPanel:
    """Build it, display it (``panel`` as a cell's last line), then click or call :meth:`submit`."""

    def __init__(self, poll_seconds: float = 0.3):
        cfg = config.load()
        self.poll_seconds = poll_seconds
        self.jobs: list[JobView] = []
        self.rows: list[dict] = []
        self.group_ids: list[str] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

        self.files = w.SelectMultiple(description="audio", rows=6, layout=w.Layout(width="560px"))
        self.upload = w.FileUpload(accept=",".join(sorted(uploads.ALLOWED_SUFFIXES)), multiple=True,
                                   description="Upload")
        self.num_speakers = w.BoundedIntText(0, min=0, max=20, description="speakers", layout=w.Layout(width="170px"))
        self.min_speakers = w.BoundedIntText(0, min=0, max=20, description="min", layout=w.Layout(width="170px"))
        self.max_speakers = w.BoundedIntText(0, min=0, max=20, description="max", layout=w.Layout(width="170px"))
        self.backend = w.Dropdown(options=BACKENDS, value=cfg.diarization_backend if cfg.diarization_backend in BACKENDS
                                  else "offline", description="backend", layout=w.Layout(width="220px"))
        self.identify = w.Checkbox(False, description="names (--identify)", indent=False,
                                   tooltip="call recognised speakers by their enrolled names (speakers enroll)",
                                   layout=w.Layout(width="170px"))
        self.submit_button = w.Button(description="Submit", button_style="primary", icon="play")
        self.group_button = w.Button(description="Submit as group", icon="layer-group")
        self.message = w.HTML()
        self.jobs_box = w.VBox()
        self.results_html = w.HTML()
        for widget, cls in ((self.submit_button, "echonote-submit"), (self.group_button, "echonote-submit-group"),
                            (self.results_html, "echonote-results")):
            widget.add_class(cls)
        hint = w.HTML("<small>0 = let the model decide. Each selected file becomes one job.</small>")
        self.widget = w.VBox([
            w.HBox([self.files, self.upload]),
            w.HBox([self.num_speakers, self.min_speakers, self.max_speakers, self.backend, self.identify]), hint,
            w.HBox([self.submit_button, self.group_button]), self.message, self.jobs_box, self.results_html,
        ])
        self.upload.observe(self._on_upload, names="value")
        self.submit_button.on_click(lambda _: self._guarded(self.submit))
        self.group_button.on_click(lambda _: self._guarded(self.submit_group))
        self.refresh_choices()
        self._draw_results()

    def _repr_mimebundle_(self, **kwargs):
        return self.widget._repr_mimebundle_(**kwargs)

    # ----- input
    def refresh_choices(self, select: list[Path] | None = None) -> None:
        """This user's uploads first (newest on top), then samples; select ``select`` (default: the first sample)."""
        choices = data.audio_choices()
        self.files.options = [(label, path) for label, path in choices.items()]
        default = next((p for label, p in choices.items() if label.startswith("sample:")), None)
        default = default or next(iter(choices.values()), None)
        wanted = select or ([default] if default else [])
        self.files.value = tuple(p for p in choices.values() if p in wanted)

    def _on_upload(self, change) -> None:
        try:
            stored = [uploads.store_bytes(bytes(item["content"]), item["name"]) for item in change["new"]]
        except ValueError as exc:  # not audio, or empty: say so in the panel
            self.message.value = f"<span style='color:#b00'>upload refused: {html.escape(str(exc))}</span>"
            return
        if stored:
            listed = {u.path.parent: u.path for u in uploads.user_uploads()}  # one entry per content
            self.refresh_choices(select=[listed.get(p.parent, p) for p in stored])
            self.message.value = (f"saved {len(stored)} upload(s) under the upload root: "
                                  + ", ".join(p.name for p in stored))

    def diarization_options(self) -> dict:
        """The form's options for :func:`echonote.client.submit_diarization` (0 means unset)."""
        options: dict[str, Any] = {"backend": self.backend.value, **({"identify": True} if self.identify.value else {})}
        for key, widget in (("num_speakers", self.num_speakers), ("min_speakers", self.min_speakers),
                            ("max_speakers", self.max_speakers)):
            if widget.value:
                options[key] = int(widget.value)
        return options

    def _guarded(self, action) -> None:
        try:
            action()
        except Exception as exc:  # shown in the panel: a click has nowhere else to report
            self.message.value = f"<span style='color:#b00'>could not submit: {exc}</span>"

    # ----- submitting
    def submit(self, paths: list[Path] | None = None) -> list[JobView]:
        """Submit one job per file (default: the selected ones) and start following them.

        Every file is staged and measured before the first job is sent: a file no job could take
        (missing, empty, too long) raises :class:`echonote.client.BadAudio` and nothing is charged."""
        paths = [Path(p) for p in (paths or self.files.value)]
        if not paths:
            raise ValueError("no audio selected: pick a file in the list or upload one.")
        staged = [client.stage_audio(p, progress=self._upload_progress(p)) for p in paths]
        views = [self._submit_one(p, audio) for p, audio in zip(paths, staged, strict=True)]
        self.message.value = f"submitted {len(views)} job(s) by name {names.DIARIZE!r}"
        self._follow()
        return views

    def _upload_progress(self, path: Path):
        """``progress(sent, total)`` for an upload to the object store (ECHONOTE_STORAGE_URL set): a bar in the
        message line; a file already in the store is not sent again and shows none."""
        def show(sent: int, total: int) -> None:
            self.message.value = (f"uploading {html.escape(path.name)} to the object store "
                                  f"<progress value='{sent}' max='{max(total, 1)}'></progress> "
                                  f"{sent / 1e6:,.1f} of {total / 1e6:,.1f} MB")
        return show

    def submit_group(self, paths: list[Path] | None = None) -> str:
        """Submit several files and save them as one GroupResult (its id is returned)."""
        import uuid

        from celery.result import GroupResult

        views = self.submit(paths)
        app = client.celery_app()
        group = GroupResult(id=str(uuid.uuid4()), results=[app.AsyncResult(v.task_id) for v in views], app=app)
        group.save()
        self.group_ids.append(group.id)
        self.message.value = f"submitted a group of {len(views)} job(s): group id {group.id}"
        return group.id

    def _submit_one(self, audio: Path, staged: client.StagedAudio) -> JobView:
        job = client.submit_diarization(staged, **self.diarization_options())
        view = JobView(job_label(audio, job.id), audio, job.id, job.task_id)
        name = w.Label(view.label, tooltip=str(audio), layout=w.Layout(width="auto", min_width="220px"))
        view.bar = w.FloatProgress(0, min=0, max=100, bar_style="info", layout=w.Layout(width="300px"))
        view.status = w.Label("PENDING")
        view.cancel_button = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
        view.cancel_button.on_click(lambda _: self.cancel(view))
        view.box = w.HBox([name, view.bar, view.status, view.cancel_button])
        view.box.add_class("echonote-job")
        with self._lock:
            self.jobs.append(view)
            self.jobs_box.children = [*self.jobs_box.children, view.box]
        return view

    def cancel(self, view: JobView) -> None:
        """Revoke the task (terminating it if running) and mark its job row revoked."""
        if view.done:
            return
        client.celery_app().control.revoke(view.task_id, terminate=True, signal="SIGTERM")
        db.mark_revoked(view.job_id)  # a job that finished meanwhile keeps its outcome
        view.status.value = "REVOKED"

    # ----- following
    def _follow(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._poll_loop, name="echonote-panel", daemon=True)
            self._thread.start()

    def _poll_loop(self) -> None:
        while True:
            with self._lock:
                pending = [v for v in self.jobs if not v.done]
            if not pending:
                return
            for view in pending:
                self._update(view)
            time.sleep(self.poll_seconds)

    def _update(self, view: JobView) -> None:
        result = client.celery_app().AsyncResult(view.task_id)
        seen = client.progress_of(result)
        view.state, view.percent = seen.state, seen.percent
        view.bar.value = seen.percent
        step = f" · {seen.step} {seen.completed}/{seen.total}" if seen.total else ""
        view.status.value = f"{seen.state} {seen.percent:.0f} %{step}"
        if not result.ready():
            return
        try:
            view.result = client.finished_value(result)
            view.bar.bar_style = "success"
        except Exception as exc:  # the task's own error: it gets a row too, with the reason
            view.error = f"{type(exc).__name__}: {exc}"
            view.bar.bar_style = "danger"
            view.status.value = f"{result.state}: {view.error[:120]}"
        self.rows.append(self._row(view, result))
        view.done = True
        view.cancel_button.disabled = True  # nothing left to cancel
        view.cancel_button.layout.display = "none"
        view.box.add_class("echonote-job-done")
        self._draw_results()

    def _row(self, view: JobView, result) -> dict:
        reference = data.reference_speakers(view.audio)
        if view.error:
            return {"file": view.audio.name, "job": view.job_id[:8], "status": f"{result.state}: {view.error[:160]}",
                    "reference speakers": len(reference) if reference else "-"}
        res = view.result or {}
        return {
            "file": view.audio.name,
            "job": view.job_id[:8],
            "status": result.state,
            "speakers": res.get("num_speakers", len(res.get("speakers", []))),
            "reference speakers": len(reference) if reference else "-",
            "duration (s)": round(res.get("duration", 0.0), 1),
            "DER (%)": _der_percent(view.audio, res),
            "worker": getattr(result, "worker", None) or f"pid {res.get('worker_pid')}",
            "runtime (s)": round(res.get("timings", {}).get("total", 0.0), 2),
            "RTF": round(res.get("rtf", 0.0), 3),
        }

    def _draw_results(self) -> None:
        self.results_html.value = self.results_table()._repr_html_()

    def results_table(self) -> Table:
        return Table(list(self.rows), title="Results", columns=[
            "file", "job", "status", "speakers", "reference speakers", "duration (s)", "DER (%)", "worker",
            "runtime (s)", "RTF"])

    def wait(self, timeout: float = 900.0) -> Table:
        """Block until every job is done (or ``timeout``); return the results table."""
        def all_done() -> bool:
            if all(v.done for v in self.jobs):
                return True
            if self._thread is None or not self._thread.is_alive():
                self._follow()  # keep the rows moving while this cell waits
            return False

        def still_running() -> str:
            return f"{[v.label for v in self.jobs if not v.done]} (see `echonote logs worker`)"

        wait_until(all_done, timeout, 0.2, still_running)
        return self.results_table()


def job_label(audio: Path, job_id: str) -> str:
    """``meeting.wav · 1a2b3c4d``: the whole file name and the job's short id."""
    return f"{Path(audio).name} · {job_id[:8]}"


def _der_percent(audio: Path, result: dict) -> Any:
    """DER in % (collar 0, overlap scored) when a reference RTTM sits next to the audio; '-' otherwise."""
    from echonote.results import samples

    rttm = samples.reference_for(audio)
    if not rttm or not result.get("segments"):
        return "-"
    import warnings

    from echonote.results.der import evaluate  # pyannote.metrics, imported only when scoring

    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="'uem' was approximated")  # no UEM: whole file scored
            return round(100 * evaluate(str(rttm), result)["der"], 1)
    except Exception as exc:  # a reference that cannot be scored must not hide the job's result
        return f"not scored ({type(exc).__name__}: {exc})"[:80]
