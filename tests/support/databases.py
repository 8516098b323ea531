"""The databases a persistence test runs against: SQLite always, PostgreSQL when one is named.

Set ``ECHONOTE_TEST_POSTGRES_URL`` to a scratch database (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/scratch) to run the PostgreSQL cases too.
"""
from __future__ import annotations

import os

import pytest


def database_params() -> list:
    """``pytest.param`` values for a ``params=`` fixture: "sqlite", and the PostgreSQL URL (skipped when unset)."""
    postgres = os.environ.get("ECHONOTE_TEST_POSTGRES_URL")
    return [pytest.param("sqlite", id="sqlite"),
            pytest.param(postgres or "postgres", id="postgresql", marks=pytest.mark.skipif(
                not postgres, reason="set ECHONOTE_TEST_POSTGRES_URL to a scratch PostgreSQL database"))]


def database_url(param: str, sqlite_file) -> str:
    """The URL for a :func:`database_params` value; ``sqlite_file`` is where the SQLite case keeps its file."""
    return f"sqlite:///{sqlite_file}" if param == "sqlite" else param
