"""A speaker-coloured transcript for notebooks, in the colours the timelines use (light)."""
from __future__ import annotations

import html

from echonote.results import plots


def colours_matched_to(result: dict, reference: list[dict] | None) -> tuple[dict[str, str], dict[str, str]]:
    """(hypothesis label -> shown label, shown label -> colour), as in notebook 04's figures."""
    hypothesis = [{"start": u["start"], "end": u["end"], "speaker": u["speaker"]} for u in result["utterances"]
                  if u.get("speaker")]
    mapping = plots.map_speakers(hypothesis, reference) if reference else {s: s for s in plots.speakers_of(hypothesis)}
    everyone = sorted(set(mapping.values()) | set(plots.speakers_of(reference or [])))
    return mapping, plots.speaker_colors(everyone)


def transcript_html(result: dict, reference: list[dict] | None = None) -> str:
    """One line per utterance: time, speaker (coloured) and words."""
    mapping, colours = colours_matched_to(result, reference)
    rows = []
    for u in result["utterances"]:
        label = mapping.get(u["speaker"], u["speaker"] or "?")
        colour = colours.get(label, "#7f7f7f")
        rows.append(
            f'<div style="margin:2px 0"><span style="color:#666;font-family:monospace">'
            f'{u["start"]:6.1f}–{u["end"]:5.1f} s</span> '
            f'<b style="color:{colour}">{html.escape(str(label))}</b>: {html.escape(u["text"])}</div>'
        )
    return "\n".join(rows)
