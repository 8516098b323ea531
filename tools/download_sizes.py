"""How much each role downloads: resolve each extra with pip (nothing is installed) and add up the wheels.

    .venv/bin/python tools/download_sizes.py            # a Markdown table, one row per role
    .venv/bin/python tools/download_sizes.py --top 5    # plus each role's five largest wheels

pip resolves ``.[extra]`` with ``--dry-run --ignore-installed --report`` (the
same resolution ``make setup`` does); a wheel's size is read from the local
file for file:// links and from the index's Content-Length otherwise.
Pass ``--pip-arg`` to measure another index, e.g. a CPU-only torch index.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = {
    "beat + Flower (light image)": "beat",
    "worker (models, torch)": "worker",
    "lab (JupyterLab, plots)": "lab",
    "dev (tests only)": "dev",
    "make setup (beat, worker, lab)": "beat,worker,lab",
}


def resolve(extras: str, pip_args: list[str]) -> list[dict]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--ignore-installed",
             "--report", str(report), f"{ROOT}[{extras}]", *pip_args],
            check=True, stderr=subprocess.DEVNULL,
        )
        return json.loads(report.read_text())["install"]


def size_of(url: str) -> int:
    if url.startswith("file://"):
        path = Path(url[len("file://"):])
        return path.stat().st_size if path.is_file() else 0  # the project itself (a folder)
    request = urllib.request.Request(url, method="HEAD")
    with urllib.request.urlopen(request, timeout=60) as answer:
        return int(answer.headers.get("Content-Length", 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--top", type=int, default=0, help="also list each role's N largest wheels")
    parser.add_argument("--pip-arg", action="append", default=[], help="extra argument for pip (repeatable)")
    args = parser.parse_args(argv)
    print("| role | packages | download (MB) | of which nvidia-* + triton (MB) |")
    print("| --- | ---: | ---: | ---: |")
    details = []
    for label, extras in ROLES.items():
        wheels = [
            (item["metadata"]["name"], size_of(item["download_info"]["url"])) for item in resolve(extras, args.pip_arg)
        ]
        total = sum(size for _, size in wheels)
        gpu = sum(size for name, size in wheels if name.lower().startswith(("nvidia", "triton")))
        print(f"| {label} | {len(wheels)} | {total / 1e6:,.0f} | {gpu / 1e6:,.0f} |")
        details.append((label, sorted(wheels, key=lambda w: -w[1])[: args.top]))
    for label, largest in details if args.top else []:
        print(f"\n{label}: " + ", ".join(f"{name} {size / 1e6:,.0f} MB" for name, size in largest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
