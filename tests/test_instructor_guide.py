"""notebooks/INSTRUCTOR.md stays true: its commands exist, its table covers every notebook, its ports are the code's."""
from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from echonote import cli
from echonote.lab import participants

ROOT = Path(__file__).resolve().parent.parent
GUIDE = (ROOT / "notebooks" / "INSTRUCTOR.md").read_text()


def commands_in_guide() -> set[tuple[str, ...]]:
    """Every `echonote word word` the guide tells an instructor to run (sub-commands only, no arguments)."""
    found = set()
    for line in re.findall(r"echonote ([a-z][a-z -]*)", GUIDE):
        words = tuple(w for w in line.split() if not w.startswith("-"))
        found.add(words[:2])
    return found


@pytest.mark.parametrize("words", sorted(commands_in_guide()))
def test_every_command_in_the_guide_exists(words):
    group: click.Command = cli.main
    for word in words:
        if not isinstance(group, click.Group):
            break  # the rest are arguments
        sub = group.get_command(click.Context(group), word)
        assert sub is not None, (
            f"INSTRUCTOR.md tells instructors to run `echonote {' '.join(words)}`, which does not exist"
        )
        group = sub


def test_the_guide_mentions_enough_commands():
    assert {("lab", "reset"), ("lab", "participant"), ("lab", "serve"), ("up",), ("status",)} <= {
        w[:2] if w[0] == "lab" else w[:1] for w in commands_in_guide()
    }


def test_the_timing_table_lists_every_notebook_once():
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    rows = re.findall(r"^\| `(\d\d_\w+)` \| (\d+) s \|", GUIDE, flags=re.M)
    assert [name for name, _ in rows] == notebooks


def test_the_participant_ports_are_the_codes():
    for key, base in participants.PORT_BASES.items():
        assert f"{base}+N" in GUIDE, f"INSTRUCTOR.md does not give the {key} base {base}+N"
