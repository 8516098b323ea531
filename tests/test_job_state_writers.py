"""Only ``echonote/db.py`` changes a job's status: every other module goes through its named transitions.

A scan of the package's syntax trees for the ways code used to write a status itself: assigning
``<row>.status``, ``.values(status=...)`` (an SQL UPDATE), ``status=<a state>`` in any call (``Job(...)``, a helper's
``**fields``), ``{"status": <a state>}``, ``setattr(<row>, "status", ...)`` and raw ``UPDATE jobs`` SQL.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "echonote"
HOME_OF_STATES = PACKAGE / "db.py"

STATE_NAMES = {"QUEUED", "STARTED", "SUCCEEDED", "FAILED", "REVOKED"}
STATE_VALUES = {"queued", "started", "succeeded", "failed", "revoked"}
RAW_UPDATE = re.compile(r"\bupdate\s+jobs\b", re.IGNORECASE)

#: ``<name>.status`` assignments that are not job rows: (file relative to the root, the assigned expression)
NOT_JOB_ROWS = {("echonote/lab/panel.py", "view.status")}  # the panel's status label widget


def _names_a_state(node: ast.AST | None) -> bool:
    return node is not None and any(
        (isinstance(sub, ast.Attribute) and sub.attr in STATE_NAMES)
        or (isinstance(sub, ast.Name) and sub.id in STATE_NAMES)
        or (isinstance(sub, ast.Constant) and sub.value in STATE_VALUES)
        for sub in ast.walk(node))


def _is_status_key(key: ast.AST | None) -> bool:
    return (isinstance(key, ast.Constant) and key.value == "status") or (
        isinstance(key, ast.Attribute) and key.attr == "status")


#: db's queries: their ``status=`` chooses which rows to read
READERS = {"find_jobs", "recent_jobs"}


def state_writes(source: str, filename: str = "<snippet>") -> list[str]:
    """``filename:line what`` for every place in ``source`` that writes a job status itself."""
    found = []

    def note(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{node.lineno} {what}")

    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign)):
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                for sub in ast.walk(target):
                    if (isinstance(sub, ast.Attribute) and sub.attr == "status" and isinstance(sub.ctx, ast.Store)
                            and (filename, ast.unparse(sub)) not in NOT_JOB_ROWS):
                        note(node, f"assigns {ast.unparse(sub)}")
        elif isinstance(node, ast.Call):
            sets_columns = isinstance(node.func, ast.Attribute) and node.func.attr == "values"  # update(...).values
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for keyword in node.keywords:
                if called in READERS:  # a query's filter (``status=`` selects rows), not a write
                    continue
                if keyword.arg == "status" and (sets_columns or _names_a_state(keyword.value)):
                    note(node, f"passes status={ast.unparse(keyword.value)}")
            if (isinstance(node.func, ast.Name) and node.func.id == "setattr" and len(node.args) >= 2
                    and isinstance(node.args[1], ast.Constant) and node.args[1].value == "status"):
                note(node, "setattr(..., 'status', ...)")
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _is_status_key(key) and _names_a_state(value):
                    note(node, f"maps {ast.unparse(key)} to {ast.unparse(value)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_UPDATE.search(node.value):
            note(node, "raw UPDATE jobs SQL")
    return found


@pytest.mark.parametrize("snippet", [
    "job.status, job.error, job.finished_at = db.FAILED, message, db.utcnow()",
    "row.status = REVOKED",
    "job.status = next_state",
    "s.execute(update(db.Job).where(db.Job.id == job_id).values(status=db.SUCCEEDED, progress=100.0))",
    "s.execute(update(Job).where(Job.id == job_id).values(status=to))",
    "update_job(job_id, status=db.REVOKED, finished_at=db.utcnow())",
    "fields = {'status': db.SUCCEEDED, 'progress': 100.0}",
    "s.execute(update(Job).values({Job.status: 'failed'}))",
    "setattr(job, 'status', value)",
    "s.execute(text('UPDATE jobs SET status = :s WHERE id = :id'), params)",
])
def test_the_scan_finds_each_way_a_status_was_written(snippet):
    """The scan must be able to fail: each of these is how a module outside db.py wrote a status before."""
    assert state_writes(snippet), snippet


@pytest.mark.parametrize("snippet", [
    "db.mark_failed(job.id, reason, refund=False)",
    "rows = s.scalars(select(db.Job).where(db.Job.status.in_((db.QUEUED, db.STARTED))))",
    "report = {'status': job.status, 'progress': job.progress}",
    "db.find_jobs(user=user, status=status, limit=limit)",
    "db.find_jobs(user='chaos', status=db.QUEUED, limit=10)",
    "view.status.value = 'REVOKED'",
])
def test_the_scan_leaves_reads_and_transitions_alone(snippet):
    assert state_writes(snippet) == []


def test_the_panels_status_label_is_not_a_job_row():
    assert state_writes("view.status = w.Label('PENDING')", "echonote/lab/panel.py") == []
    assert state_writes("view.status = w.Label('PENDING')", "echonote/cli/jobs.py") != []


def test_no_module_but_db_writes_a_job_status():
    modules = sorted(path for path in PACKAGE.rglob("*.py") if path != HOME_OF_STATES)
    assert len(modules) > 20, "the scan found too few modules to mean anything"
    found = [hit for path in modules
             for hit in state_writes(path.read_text(encoding="utf-8"), str(path.relative_to(ROOT)))]
    assert found == [], "\n".join(["change a job's status through echonote.db's transitions:", *found])


def test_db_itself_is_found_writing_statuses():
    """The transitions live in db.py: the scan sees them there, so it would see them anywhere else."""
    assert state_writes(HOME_OF_STATES.read_text(encoding="utf-8"), "echonote/db.py")
