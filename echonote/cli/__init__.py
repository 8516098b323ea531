"""The ``echonote`` command (entry point ``echonote.cli:main``).

``app`` holds the group and what commands share; each other module registers one
command group on it. Importing this package imports each command module once;
none of them imports this package back, so there is no cycle and no import order to get right.
"""
from echonote.cli import (  # noqa: F401  (each module registers its commands on main)
    benchmark,
    call,
    diarize,
    jobs,
    lab,
    quota,
    settings,
    speakers,
    stack,
    transcribe,
)
from echonote.cli.app import main

__all__ = ["main"]
