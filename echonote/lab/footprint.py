"""Measure what an import path loads: module count, memory, time, and which heavy packages came in.

Each measurement runs in a fresh interpreter, so nothing loaded by the
notebook itself skews it. ``BEAT_PATH`` is what ``celery beat`` and Flower do
with an app: import it, then ``app.loader.import_default_modules()``.
"""
from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass

from echonote.lab.tables import Table

OURS = "echonote.celery_app"
ANTI_PATTERN = "echonote.lab.eager_app"

_PROBE = """
import json, os, sys, time, resource
t0 = time.perf_counter()
from {module} import app
app.loader.import_default_modules()
seconds = time.perf_counter() - t0
modules = len(sys.modules)
rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
from echonote.boundary import heavy_loaded
print(json.dumps({{"seconds": seconds, "modules": modules, "rss_mb": rss_mb, "heavy": heavy_loaded()}}))
"""


@dataclass
class Footprint:
    label: str
    module: str
    seconds: float
    modules: int
    rss_mb: float
    heavy: list[str]

    @property
    def imports_torch(self) -> bool:
        return "torch" in self.heavy


def measure(module: str, label: str | None = None, timeout: float = 180.0) -> Footprint:
    """Import ``module``'s app the way beat does, in a new interpreter; return what it cost."""
    code = _PROBE.format(module=module)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"importing {module} failed (is the worker extra installed?):\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout.strip().splitlines()[-1])
    return Footprint(label or module, module, data["seconds"], data["modules"], data["rss_mb"], data["heavy"])


def compare() -> list[Footprint]:
    """Our beat path vs the anti-pattern app, measured the same way."""
    return [measure(OURS, "echonote.celery_app (ours)"), measure(ANTI_PATTERN, "eager_app (anti-pattern)")]


def as_table(results: list[Footprint]) -> Table:
    rows = [{"app": r.label, "modules loaded": r.modules, "peak RSS (MB)": round(r.rss_mb, 1),
             "import time (s)": round(r.seconds, 2), "heavy packages loaded": ", ".join(r.heavy) or "none"}
            for r in results]
    return Table(rows, title="What beat's import path loads, per app")


def figure(results: list[Footprint]):
    """Three bar charts side by side: modules, peak memory, import time."""
    import matplotlib.pyplot as plt

    metrics = [("modules", "modules loaded (count)"), ("rss_mb", "peak RSS (MB)"), ("seconds", "import time (s)")]
    colors = ["#2ca02c" if not r.imports_torch else "#d62728" for r in results]
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.6), layout="constrained")
    for ax, (attr, label) in zip(axes, metrics, strict=True):
        values = [getattr(r, attr) for r in results]
        bars = ax.bar(range(len(results)), values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 10 else f"{v:.2f}" for v in values], padding=2)
        ax.set_xticks(range(len(results)), [r.label.split(" ")[0] for r in results])
        ax.set_ylabel(label)
        ax.set_title(label.split(" (")[0])
        ax.margins(y=0.15)
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color="#2ca02c", label="no torch loaded"), Patch(color="#d62728", label="torch loaded")],
               loc="outside lower center", ncols=2, frameon=False)
    fig.suptitle("Import footprint of beat's path: app with names only vs app that imports task code")
    return fig
