"""Users with daily audio quotas, and jobs: the persistence layer (SQLAlchemy).

A SQLite file in the state directory by default (nothing to start); any
SQLAlchemy URL through ``ECHONOTE_DATABASE_URL``. Light: beat's reset task and
clients share it; no task code here.
"""
from __future__ import annotations

import datetime as dt
import uuid
from contextlib import contextmanager
from functools import lru_cache
from typing import Iterator

from sqlalchemy import (
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from echonote import config

#: job.status values, in the order a job normally goes through them
QUEUED, STARTED, SUCCEEDED, FAILED, REVOKED = "queued", "started", "succeeded", "failed", "revoked"
FINISHED_STATES = (SUCCEEDED, FAILED, REVOKED)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


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
    audio_seconds: Mapped[float] = mapped_column(Float, default=0.0)
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


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL + NORMAL: concurrent readers while a worker writes, and a commit without
    # a full fsync keeps the submit path within a few milliseconds.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


def engine(url: str | None = None) -> Engine:
    """The engine for ``url`` (default: the configured database), tables created."""
    return _engine_for(url or config.load().effective_database_url)


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


def get_or_create_user(s: Session, name: str) -> User:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, daily_quota_seconds=config.load().daily_quota_seconds, used_seconds_today=0.0)
        s.add(user)
        s.flush()
    return user


def reset_daily_quotas(url: str | None = None) -> int:
    """Zero every user's usage; returns how many rows changed (0 on a second run)."""
    with session(url) as s:
        result = s.execute(
            update(User).where(User.used_seconds_today != 0).values(used_seconds_today=0.0, quota_reset_at=utcnow())
        )
        return result.rowcount or 0


def set_quota(name: str, seconds: float, url: str | None = None) -> User:
    if seconds < 0:
        raise ValueError(f"a quota cannot be negative (got {seconds}); use 0 to block a user")
    with session(url) as s:
        user = get_or_create_user(s, name)
        user.daily_quota_seconds = float(seconds)
        return user


def list_users(url: str | None = None) -> list[User]:
    with session(url) as s:
        return list(s.scalars(select(User).order_by(User.name)))


def get_job(job_id: str, url: str | None = None) -> Job | None:
    with session(url) as s:
        return s.get(Job, job_id)


def recent_jobs(limit: int = 20, url: str | None = None) -> list[Job]:
    with session(url) as s:
        return list(s.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))
