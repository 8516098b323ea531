"""A small table that renders as HTML in a notebook and as aligned text elsewhere (no pandas)."""
from __future__ import annotations

import html
from typing import Any


class Table:
    """Rows of dicts with a title; ``rows`` stays available for code and checks."""

    def __init__(self, rows: list[dict[str, Any]], title: str = "", columns: list[str] | None = None):
        self.rows = rows
        self.title = title
        self.columns = columns or list(dict.fromkeys(key for row in rows for key in row))

    def __len__(self) -> int:
        return len(self.rows)

    def column(self, name: str) -> list[Any]:
        return [row.get(name) for row in self.rows]

    def _cells(self) -> list[list[str]]:
        return [[_fmt(row.get(col, "")) for col in self.columns] for row in self.rows]

    def __repr__(self) -> str:
        cells = self._cells()
        widths = [max([len(col)] + [len(r[i]) for r in cells]) for i, col in enumerate(self.columns)]
        line = lambda values: "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=False))  # noqa: E731
        body = [line(self.columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
        return "\n".join(([self.title] if self.title else []) + (body if self.rows else ["(no rows)"]))

    def _repr_html_(self) -> str:
        pad = " style='padding:2px 10px'"
        head = "".join(f"<th{pad}>{html.escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f"<td{pad}>{html.escape(v)}</td>" for v in r) + "</tr>" for r in self._cells())
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        return f"<table class='echonote-table'>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    return str(value)
