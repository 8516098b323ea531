"""Write requirements/<role>.txt from pyproject.toml: the core dependencies plus the role's extra.

The container images and the light-venv test install from these files, so
they are derived here and never edited by hand (`make requirements`; a test
fails when they are stale).
"""
from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("beat", "worker", "lab")
HEADER = "# Generated from pyproject.toml by `make requirements` (tools/gen_requirements.py). Do not edit.\n"


def render(role: str, pyproject: dict) -> str:
    project = pyproject["project"]
    lines = [f"# role: {role} = core dependencies + the [{role}] extra\n"]
    lines += [f"{req}\n" for req in project["dependencies"]]
    lines += [f"{req}\n" for req in project["optional-dependencies"][role] if req not in project["dependencies"]]
    return HEADER + "".join(lines)


def expected() -> dict[Path, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {ROOT / "requirements" / f"{role}.txt": render(role, pyproject) for role in ROLES}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is missing or stale, write nothing")
    args = parser.parse_args()
    stale = [path for path, text in expected().items() if not path.exists() or path.read_text() != text]
    if args.check:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)} (run `make requirements`)", file=sys.stderr)
        return 1 if stale else 0
    for path, text in expected().items():
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
