"""Rewrite the configuration table in README.md from echonote/config.py (`make settings-table`)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
START, END = "<!-- settings:start -->", "<!-- settings:end -->"


def table() -> str:
    from echonote.config import describe

    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [f"| `{env}` | {'`' + d + '`' if d != '(empty)' else d} | {doc} |" for env, d, doc in describe()]
    return "\n".join(rows)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table()}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
