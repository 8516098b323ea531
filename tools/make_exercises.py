"""Generate the exercise notebooks from the solution notebooks: cells tagged ``solution`` are blanked.

``notebooks/NN_*.ipynb`` are the sources (solutions, committed without
outputs). Each cell tagged ``solution`` is followed by a cell tagged ``check``
whose last line calls a check from ``echonote.lab.checks`` (it shows a
one-line answer, never a traceback). In ``notebooks/exercises/`` the solution
cell becomes ``name = ...`` for each name the solution assigns on its own line
(``a = ...``, not ``a, b = ...``) and the check reads, so the check says
"not yet — hint: ..." until the learner writes the code. Cells tagged
``setup`` before a solution stay as they are: they prepare what the exercise
acts on.

    python tools/make_exercises.py           # write notebooks/exercises/*.ipynb
    python tools/make_exercises.py --check   # exit 1 if they are stale or a source is malformed
"""
from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
EXERCISES = NOTEBOOKS / "exercises"
ASSIGNED = re.compile(r"^([A-Za-z_]\w*)\s*=(?!=)", re.MULTILINE)
BANNER = "# Exercise: replace each ... with your code, then run the check cell below.\n"


def sources() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def tags(cell) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def placeholder(solution: str, check: str) -> str:
    """``name = ...`` for every name the solution assigns at top level and the check uses."""
    wanted = [n for n in dict.fromkeys(ASSIGNED.findall(solution)) if re.search(rf"\b{n}\b", check)]
    if not wanted:
        raise ValueError(f"the check cell uses none of the names the solution assigns:\n{solution}")
    return BANNER + "".join(f"{name} = ...\n" for name in wanted).rstrip("\n")


def problems(path: Path) -> list[str]:
    """What is wrong with a source notebook: outputs committed, or exercises not paired."""
    nb = nbformat.read(path, as_version=4)
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and (cell.get("outputs") or cell.get("execution_count")):
            found.append(f"{path.name} cell {i}: has outputs; clear them before committing")
        if "solution" in tags(cell):
            following = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
            if following is None or "check" not in tags(following):
                found.append(f"{path.name} cell {i}: a solution cell must be followed by a cell tagged 'check'")
            elif following.source.lstrip().startswith("print("):
                found.append(f"{path.name} cell {i + 1}: end the check cell with the check's call, not print(...): "
                             "its answer is shown as a formatted message")
    if not any("solution" in tags(c) for c in nb.cells):
        found.append(f"{path.name}: no cell tagged 'solution' (each notebook has at least one exercise)")
    return found


def exercise_of(path: Path):
    nb = nbformat.read(path, as_version=4)
    out = copy.deepcopy(nb)
    for i, cell in enumerate(out.cells):
        if "solution" in tags(cell):
            cell.source = placeholder(cell.source, out.cells[i + 1].source)
            cell.metadata["tags"] = [t for t in tags(cell) if t != "solution"] + ["exercise"]
    return out


def render(nb) -> str:
    return nbformat.writes(nb) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if exercises are stale")
    args = parser.parse_args()
    found = [p for path in sources() for p in problems(path)]
    expected = {EXERCISES / path.name: render(exercise_of(path)) for path in sources()}
    stale = [p for p, text in expected.items() if not p.exists() or p.read_text() != text]
    extra = [p for p in EXERCISES.glob("*.ipynb") if p not in expected]
    if args.check or found:
        for message in found:
            print(f"error: {message}", file=sys.stderr)
        for p in stale:
            print(f"stale: {p.relative_to(ROOT)} (run `python tools/make_exercises.py`)", file=sys.stderr)
        for p in extra:
            print(f"orphan: {p.relative_to(ROOT)} has no solution notebook; remove it", file=sys.stderr)
        return 1 if (found or stale or extra) else 0
    EXERCISES.mkdir(exist_ok=True)
    for p, text in expected.items():
        p.write_text(text)
        print(f"wrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
