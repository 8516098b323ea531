"""Users with daily audio quotas, and jobs: the persistence layer (SQLAlchemy).

A SQLite file in the state directory by default (nothing to start); any
SQLAlchemy URL through ``ECHONOTE_DATABASE_URL``. Light: beat's reset task and
clients share it; no task code here. A job's status changes only here, through the
named transitions in :data:`TRANSITIONS` (``mark_started``, ``mark_succeeded``,
``mark_failed``, ``mark_revoked``, ``requeue``).
"""
from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    case,
    create_engine,
    event,
    func,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from echonote import config
from echonote.private_files import create_private

#: job.status values, in the order a job normally goes through them
QUEUED, STARTED, SUCCEEDED, FAILED, REVOKED = "queued", "started", "succeeded", "failed", "revoked"
FINISHED_STATES = (SUCCEEDED, FAILED, REVOKED)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True, index=True)
    daily_quota_seconds: Mapped[float] = mapped_column(Float)
    used_seconds_today: Mapped[float] = mapped_column(Float, default=0.0)
    quota_reset_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self.daily_quota_seconds - self.used_seconds_today)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    task_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    audio_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)  # seconds charged to the user's quota now
    status: Mapped[str] = mapped_column(String(16), default=QUEUED, index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # deliveries that started running
    worker: Mapped[str | None] = mapped_column(String(200), nullable=True)  # node and pid of the last run
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result_path: Mapped[str | None] = mapped_column(Text, nullable=True)

    def as_dict(self) -> dict:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


class Voiceprint(Base):
    """A user's enrolled voice: one speaker embedding per (user, name), with the model that made it."""

    __tablename__ = "voiceprints"
    __table_args__ = (UniqueConstraint("user_id", "name", name="uq_voiceprint_user_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    model_name: Mapped[str] = mapped_column(String(64))
    model_sha256: Mapped[str] = mapped_column(String(64))  # embeddings of two models are never compared
    embedding: Mapped[str] = mapped_column(Text)  # JSON list of floats (unit length)
    speech_seconds: Mapped[float] = mapped_column(Float)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    def as_dict(self) -> dict:
        return {c.name: getattr(self, c.name) for c in self.__table__.columns}


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL + NORMAL: concurrent readers while a worker writes, and a commit without
    # a full fsync keeps the submit path within a few milliseconds.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class DatabaseFileReplaced(RuntimeError):
    """The SQLite file this process opened was deleted or replaced under it."""


def _sqlite_file(url: str) -> Path | None:
    """The database file of a file-backed SQLite URL, else None."""
    if not url.startswith("sqlite:///") or url in ("sqlite:///", "sqlite:///:memory:"):
        return None
    return Path(url[len("sqlite:///"):].split("?", 1)[0])


def _file_identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _replaced(path: Path, what: str) -> DatabaseFileReplaced:
    return DatabaseFileReplaced(
        f"the jobs database {path} {what} while echonote processes were using it; their writes would go to a "
        f"deleted file (SQLite keeps it open) and new connections would fail. Stop the stack (`echonote down`), "
        f"remove {path.name}-wal and {path.name}-shm if they are still there, then `echonote up`: a fresh database "
        f"is created (quotas and job history start empty). To keep the data, move the files back instead."
    )


def _create_private_file(path: Path) -> None:
    """Create the SQLite file 0600 before SQLite does (it would follow the umask); its -wal/-shm copy its mode."""
    try:
        create_private(path).close()
    except FileExistsError:
        pass


@lru_cache(maxsize=8)
def _engine_for(url: str) -> tuple[Engine, tuple[int, int] | None]:
    """The engine for ``url`` and, for a SQLite file, the identity (device, inode) of the file it opened."""
    path = _sqlite_file(url)
    if path is not None:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if _file_identity(path) is None and any(Path(f"{path}{tail}").exists() for tail in ("-wal", "-shm")):
            raise _replaced(path, "is missing but its -wal/-shm files are still there: it was deleted")
        _create_private_file(path)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    _create_tables(engine)
    return engine, (_file_identity(path) if path is not None else None)


def _create_tables(engine: Engine, attempts: int = 5) -> None:
    """Create missing tables; processes opening a new database at once may race (check, then CREATE):
    the loser's "already exists" just means the winner made it, so look again."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    for attempt in range(attempts):
        try:
            Base.metadata.create_all(engine)
            return
        except (OperationalError, ProgrammingError) as exc:
            if "already exists" not in str(exc) or attempt == attempts - 1:
                raise


def engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured database), tables created.

    For a SQLite file, every call checks the file is still the one this process opened:
    a deleted or replaced file raises :class:`DatabaseFileReplaced` instead of writing
    jobs into a file nobody else can see.
    """
    url = url or config.load().effective_database_url
    found, identity = _engine_for(url)
    if identity is not None:
        path = _sqlite_file(url)
        now = _file_identity(path)
        if now != identity:
            raise _replaced(path, "was deleted" if now is None else "was replaced by another file")
    return found


@contextmanager
def session(url: str | None = None) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    factory = sessionmaker(engine(url), expire_on_commit=False)
    with factory() as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def _insert_ignoring_duplicates(s: Session, values: dict) -> None:
    """INSERT a user row unless its name exists, as one statement where the dialect has one."""
    dialect = s.get_bind().dialect.name
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    elif dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        try:
            with s.begin_nested():
                s.add(User(**values))
        except IntegrityError:
            pass  # created by someone else meanwhile
        return
    s.execute(insert(User).values(**values).on_conflict_do_nothing(index_elements=[User.name]))


def ensure_user(s: Session, name: str, quota: float | None = None) -> None:
    """Create user ``name`` with ``quota`` (default: the configured daily quota) unless it exists.

    Safe when many processes do it at once: no read-then-insert, so no UNIQUE violation."""
    quota = config.load().daily_quota_seconds if quota is None else quota
    _insert_ignoring_duplicates(s, {"name": name, "daily_quota_seconds": float(quota), "used_seconds_today": 0.0})


def get_or_create_user(s: Session, name: str) -> User:
    ensure_user(s, name)
    return s.scalar(select(User).where(User.name == name).execution_options(populate_existing=True))


def charge(s: Session, name: str, seconds: float) -> User | None:
    """Add ``seconds`` to the usage of ``name`` (created if new) if it stays within the quota; None if it would not.

    The check and the charge are one conditional UPDATE, so concurrent submits can never
    overspend a quota or lose each other's charges (on SQLite it takes the write lock; on
    PostgreSQL the row lock, and the condition is re-checked on the locked row)."""
    ensure_user(s, name)
    admitted = s.execute(
        update(User)
        .where(User.name == name, User.used_seconds_today + seconds <= User.daily_quota_seconds)
        .values(used_seconds_today=User.used_seconds_today + seconds)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    user = s.scalar(select(User).where(User.name == name).execution_options(populate_existing=True))
    return user if admitted else None


def _give_back(s: Session, user_id: int, seconds: float) -> None:
    """Subtract ``seconds`` from a user's usage in SQL (never below zero): atomic, no lost update."""
    if seconds:
        left = User.used_seconds_today - seconds
        s.execute(update(User).where(User.id == user_id)
                  .values(used_seconds_today=case((left < 0, 0.0), else_=left))
                  .execution_options(synchronize_session=False))


def locked_job(s: Session, job_id: str) -> Job | None:
    """The job row, locked for the rest of the transaction (a no-op UPDATE takes SQLite's write lock
    or PostgreSQL's row lock first, so what is read next cannot change under us); None if there is none."""
    touched = s.execute(update(Job).where(Job.id == job_id).values(audio_seconds=Job.audio_seconds)
                        .execution_options(synchronize_session=False)).rowcount
    if not touched:
        return None
    return s.scalar(select(Job).where(Job.id == job_id).execution_options(populate_existing=True))


def refund_job(s: Session, job_id: str) -> float:
    """Give a job's charge back to its user; returns the seconds refunded (0 when already refunded).

    The charge is zeroed in the same transaction as it is given back, so a job is refunded at most once."""
    job = locked_job(s, job_id)
    if job is None or not job.audio_seconds:
        return 0.0
    refunded, job.audio_seconds = job.audio_seconds, 0.0
    _give_back(s, job.user_id, refunded)
    return refunded


# ----- job states: the only code that changes jobs.status
#
# A row is created queued (by the client's submit) and changes state only through the functions named in
# TRANSITIONS. Each is one conditional UPDATE (``WHERE status IN <from>``) whose row count says whether it
# happened: of two writers racing, the first wins and the second is told, never overwriting it. No final
# state (succeeded, failed, revoked) is a from-state, so a final row is never reopened nor rewritten: a hard
# time limit's failure stands against a dying process's late writes, a revoked job stays revoked, a finished
# job's redelivered message is not run again (see echonote.worker.jobs), and a failed job's refund, made
# with the failure in one transaction, happens once. The worker records the outcome inside the task, so
# the row is final before the result is visible to clients.

#: transition -> (the states it may start from, the state it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "mark_started": ((QUEUED, STARTED), STARTED),  # started again: a retry, or a redelivery after the worker died
    "mark_succeeded": ((QUEUED, STARTED), SUCCEEDED),  # queued: the janitor closing a row from its stored result
    "mark_failed": ((QUEUED, STARTED), FAILED),  # refunded in the same transaction unless the user was at fault
    "mark_revoked": ((QUEUED, STARTED), REVOKED),  # the charge stands
    "requeue": ((STARTED,), QUEUED),  # the janitor restored the message of a worker that is gone
}


@contextmanager
def _within(tx: Session | None, url: str | None) -> Iterator[Session]:
    """``tx`` when the caller has a transaction to join, else a session of our own (committed on success)."""
    if tx is not None:
        yield tx
    else:
        with session(url) as own:
            yield own


def _transition(s: Session, name: str, job_id: str, **values) -> bool:
    allowed, to = TRANSITIONS[name]
    return s.execute(
        update(Job).where(Job.id == job_id, Job.status.in_(allowed)).values(status=to, **values)
        .execution_options(synchronize_session=False)
    ).rowcount == 1


def mark_started(job_id: str, worker: str, *, tx: Session | None = None, url: str | None = None) -> bool:
    """Record a run of the job starting on ``worker`` (one more attempt, the last error cleared);
    False when the row is final (or missing): the run must not go on."""
    with _within(tx, url) as s:
        return _transition(s, "mark_started", job_id, started_at=utcnow(), error=None, worker=worker,
                           attempts=func.coalesce(Job.attempts, 0) + 1)


def mark_succeeded(job_id: str, result_path: str | None = None, *, tx: Session | None = None,
                   url: str | None = None) -> bool:
    """Record the job's success (and where its results are); False when the row was already final."""
    values = {"result_path": result_path} if result_path else {}
    with _within(tx, url) as s:
        return _transition(s, "mark_succeeded", job_id, progress=100.0, finished_at=utcnow(), error=None, **values)


def mark_failed(job_id: str, reason: str, *, refund: bool = True, tx: Session | None = None,
                url: str | None = None) -> bool:
    """Record the job's failure with ``reason`` and, if ``refund``, give its charge back in the same
    transaction; False (and nothing refunded) when the row was already final, so it keeps its real outcome."""
    with _within(tx, url) as s:
        failed = _transition(s, "mark_failed", job_id, error=reason, finished_at=utcnow())
        if failed and refund:
            refund_job(s, job_id)
        return failed


#: the older name of :func:`mark_failed`
fail_job = mark_failed


def mark_revoked(job_id: str, *, tx: Session | None = None, url: str | None = None) -> bool:
    """Record that the job was cancelled (its charge stands); False when it had already finished."""
    with _within(tx, url) as s:
        return _transition(s, "mark_revoked", job_id, finished_at=utcnow())


def requeue(job_id: str, reason: str, *, tx: Session | None = None, url: str | None = None) -> bool:
    """Put a started job back to queued with ``reason`` (its message was restored to the queue);
    False when it was not started (it finished, or was never picked up)."""
    with _within(tx, url) as s:
        return _transition(s, "requeue", job_id, error=reason)


@dataclass(frozen=True)
class Reconciliation:
    """What :func:`reconcile_charge` did: the charge before and after, and whether the job may go on."""

    charged: float
    decoded: float
    accepted: bool
    remaining: float  # quota left after this

    @property
    def difference(self) -> float:
        return self.decoded - self.charged


def reconcile_charge(s: Session, job_id: str, decoded_seconds: float) -> Reconciliation | None:
    """Make a job's charge equal the audio the worker actually decoded: refund the excess or bill the rest.

    If billing the rest would overspend the user's quota, nothing more is billed, the whole charge is
    refunded and ``accepted`` is False: the caller refuses the job. Idempotent (the parts of a canvas
    may both call it). None when the job row does not exist (a task sent without a job)."""
    job = locked_job(s, job_id)
    if job is None:
        return None
    decoded = round(float(decoded_seconds), 3)
    charged = job.audio_seconds or 0.0
    delta = decoded - charged
    accepted = True
    if delta > 0:
        accepted = s.execute(
            update(User)
            .where(User.id == job.user_id, User.used_seconds_today + delta <= User.daily_quota_seconds)
            .values(used_seconds_today=User.used_seconds_today + delta)
            .execution_options(synchronize_session=False)
        ).rowcount == 1
    elif delta < 0:
        _give_back(s, job.user_id, -delta)
    if accepted:
        job.audio_seconds = decoded
    else:
        _give_back(s, job.user_id, charged)
        job.audio_seconds = 0.0
    user = s.scalar(select(User).where(User.id == job.user_id).execution_options(populate_existing=True))
    return Reconciliation(charged=charged, decoded=decoded, accepted=accepted, remaining=user.remaining_seconds)


def reset_daily_quotas(url: str | None = None) -> int:
    """Zero every user's usage; returns how many rows changed (0 on a second run)."""
    with session(url) as s:
        result = s.execute(
            update(User).where(User.used_seconds_today != 0).values(used_seconds_today=0.0, quota_reset_at=utcnow())
        )
        return result.rowcount or 0


def set_quota(name: str, seconds: float, url: str | None = None) -> User:
    """Set a user's daily quota in seconds (creates the user); refuses negative, NaN and infinite values."""
    seconds = float(seconds)
    if seconds != seconds or seconds in (float("inf"), float("-inf")):
        raise ValueError(f"a quota must be a finite number of seconds (got {seconds}); "
                         f"for a practically unlimited quota give a large number such as 1e9")
    if seconds < 0:
        raise ValueError(f"a quota cannot be negative (got {seconds}); use 0 to block a user")
    with session(url) as s:
        ensure_user(s, name, quota=seconds)
        s.execute(update(User).where(User.name == name).values(daily_quota_seconds=seconds)
                  .execution_options(synchronize_session=False))
        return s.scalar(select(User).where(User.name == name).execution_options(populate_existing=True))


def list_users(url: str | None = None) -> list[User]:
    with session(url) as s:
        return list(s.scalars(select(User).order_by(User.name)))


def get_job(job_id: str, url: str | None = None) -> Job | None:
    with session(url) as s:
        return s.get(Job, job_id)


def recent_jobs(limit: int = 20, url: str | None = None) -> list[Job]:
    with session(url) as s:
        return list(s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))


def find_jobs(user: str | None = None, status: str | None = None, limit: int = 20,
              url: str | None = None) -> list[tuple[Job, str]]:
    """The newest jobs with their user's name, optionally only ``user``'s and/or those in ``status``."""
    query = select(Job, User.name).join(User, User.id == Job.user_id).order_by(Job.created_at.desc()).limit(limit)
    if user is not None:
        query = query.where(User.name == user)
    if status is not None:
        query = query.where(Job.status == status)
    with session(url) as s:
        return [(job, name) for job, name in s.execute(query)]


# ----- voiceprints (echonote speakers ...): the worker computes them, anyone light may list or remove them

def save_voiceprint(user: str, name: str, *, model_name: str, model_sha256: str, embedding: str,
                    speech_seconds: float, url: str | None = None) -> tuple[Voiceprint, bool]:
    """Store ``user``'s voiceprint ``name`` (``embedding`` is JSON text); returns it and whether an older
    one of that name was replaced. Of two enrolments of one name at once, the last one stands."""
    values = {"name": name, "model_name": model_name, "model_sha256": model_sha256, "embedding": embedding,
              "speech_seconds": float(speech_seconds)}
    try:
        return _replace_voiceprint(user, values, url)
    except IntegrityError:  # the same name inserted meanwhile by a concurrent enrolment: replace that one
        return _replace_voiceprint(user, values, url)


def _replace_voiceprint(user: str, values: dict, url: str | None) -> tuple[Voiceprint, bool]:
    with session(url) as s:
        owner = get_or_create_user(s, user)
        old = s.scalar(select(Voiceprint).where(Voiceprint.user_id == owner.id, Voiceprint.name == values["name"]))
        if old is not None:
            s.delete(old)
            s.flush()
        row = Voiceprint(user_id=owner.id, **values)
        s.add(row)
        return row, old is not None


def list_voiceprints(user: str, url: str | None = None) -> list[Voiceprint]:
    """``user``'s voiceprints, by name."""
    query = (select(Voiceprint).join(User, User.id == Voiceprint.user_id).where(User.name == user)
             .order_by(Voiceprint.name))
    with session(url) as s:
        return list(s.scalars(query))


def remove_voiceprint(user: str, name: str, url: str | None = None) -> bool:
    """Delete ``user``'s voiceprint ``name``; False when there was none."""
    with session(url) as s:
        row = s.scalar(select(Voiceprint).join(User, User.id == Voiceprint.user_id)
                       .where(User.name == user, Voiceprint.name == name))
        if row is None:
            return False
        s.delete(row)
        return True


def job_owner(job_id: str, url: str | None = None) -> str | None:
    """The name of the user a job belongs to; None when there is no such job."""
    with session(url) as s:
        return s.scalar(select(User.name).join(Job, Job.user_id == User.id).where(Job.id == job_id))
