"""A private stack for benchmarks: temporary state dir, free ports, torn down on exit."""
from __future__ import annotations

import os
import statistics
import tempfile


def private_stack_env() -> str:
    """Point ECHONOTE_* at a fresh state dir and free ports; return the state dir."""
    from echonote.ops.stack import free_port

    state = tempfile.mkdtemp(prefix="echonote-bench-")
    os.environ.update(
        ECHONOTE_STATE_DIR=state,
        ECHONOTE_RESULTS_DIR=os.path.join(state, "results"),
        ECHONOTE_REDIS_PORT=str(free_port()),
        ECHONOTE_FLOWER_PORT=str(free_port()),
        ECHONOTE_USER="bench",
    )
    os.environ.pop("ECHONOTE_BROKER_URL", None)
    return state


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def summary(values: list[float]) -> tuple[float, float, float]:
    """(median, p95, mean) in the input's unit."""
    return statistics.median(values), percentile(values, 95), statistics.fmean(values)


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=False)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])
