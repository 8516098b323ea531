"""Figures of diarization results (matplotlib; light: no torch, no numpy import of ours).

Segments are ``{"start", "end", "speaker"}`` dicts, as in task results. A
speaker keeps the same colour in every figure: hypothesis labels are mapped
onto the reference's by overlap before colouring.
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]


def speakers_of(segments: list[dict]) -> list[str]:
    return sorted({s["speaker"] for s in segments})


def speaker_colors(labels: list[str]) -> dict[str, str]:
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(sorted(labels))}


def _overlap(a: dict, b: dict) -> float:
    return max(0.0, min(a["end"], b["end"]) - max(a["start"], b["start"]))


def map_speakers(hypothesis: list[dict], reference: list[dict]) -> dict[str, str]:
    """Hypothesis label -> reference label, greedily by total overlap (unmatched keep their own)."""
    shared: dict[tuple[str, str], float] = defaultdict(float)
    for h in hypothesis:
        for r in reference:
            shared[h["speaker"], r["speaker"]] += _overlap(h, r)
    mapping, used = {}, set()
    for (hyp, ref), seconds in sorted(shared.items(), key=lambda kv: -kv[1]):
        if seconds > 0 and hyp not in mapping and ref not in used:
            mapping[hyp] = ref
            used.add(ref)
    return {label: mapping.get(label, label) for label in speakers_of(hypothesis)}


def relabel(segments: list[dict], mapping: dict[str, str]) -> list[dict]:
    return [{**s, "speaker": mapping.get(s["speaker"], s["speaker"])} for s in segments]


def ascii_timeline(segments: list[dict], duration: float, width: int = 60) -> str:
    """One text row per speaker: '█' where the speaker talks; a ruler in seconds below."""
    if duration <= 0:
        return "(empty)"
    rows = []
    for label in speakers_of(segments):
        cells = [" "] * width
        for s in (s for s in segments if s["speaker"] == label):
            for col in range(int(s["start"] / duration * width), min(width, int(s["end"] / duration * width) + 1)):
                cells[col] = "█"
        rows.append(f"{label:>12} |{''.join(cells)}|")
    ruler = f"{'':>12} 0{'':{width - len(f'{duration:.0f}s') - 1}}{duration:.0f}s"
    return "\n".join(rows + [ruler])


def _timeline_lanes(hypothesis: list[dict], reference: list[dict] | None):
    """(lanes, rows, colours): hypothesis labels mapped onto the reference's, reference lanes first."""
    if reference:
        hypothesis = relabel(hypothesis, map_speakers(hypothesis, reference))
    everyone = sorted(set(speakers_of(hypothesis)) | set(speakers_of(reference or [])))
    lanes = [("reference", reference)] if reference else []
    lanes.append(("hypothesis", hypothesis))
    rows = [(source, label) for source, segs in lanes for label in speakers_of(segs)]
    return dict(lanes), rows, speaker_colors(everyone)


def _draw_timeline(ax, hypothesis: list[dict], reference: list[dict] | None, duration: float | None, title: str):
    """One timeline on ``ax``: a lane per (source, speaker), a speaker legend on the right."""
    from matplotlib.patches import Patch

    lanes, rows, colors = _timeline_lanes(hypothesis, reference)
    end = duration or max([s["end"] for segs in lanes.values() for s in segs] or [1.0])
    for y, (source, label) in enumerate(rows):
        spans = [(s["start"], s["end"] - s["start"]) for s in lanes[source] if s["speaker"] == label]
        ax.broken_barh(spans, (y - 0.35, 0.7), facecolors=colors[label], alpha=0.55 if source == "reference" else 0.95)
    ax.set_yticks(range(len(rows)), [f"{source}: {label}" for source, label in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, end)
    ax.set_xlabel("time (s)")
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(handles=[Patch(color=c, label=s) for s, c in colors.items()], loc="upper left",
              bbox_to_anchor=(1.0, 1.0), title="speaker", frameon=False)


def timeline_figure(hypothesis: list[dict], reference: list[dict] | None = None, *, duration: float | None = None,
                    title: str = "Who spoke when"):
    """Speaker timeline: one lane per speaker; with a reference, its lanes above the hypothesis's."""
    return timelines_figure([{"hypothesis": hypothesis, "reference": reference, "duration": duration,
                              "title": title}])


def timelines_figure(items: list[dict]):
    """One timeline per item, stacked (e.g. one per file of a benchmark), each as :func:`timeline_figure` draws it.

    Each item: ``hypothesis`` (segments), optional ``reference``, ``duration`` and ``title``.
    Speaker colours are per item: hypothesis labels take the colour of the reference speaker they overlap most.
    """
    import matplotlib.pyplot as plt

    if not items:
        raise ValueError("timelines_figure needs at least one item")
    heights = [0.5 * max(1, len(_timeline_lanes(i["hypothesis"], i.get("reference"))[1])) + 1.4 for i in items]
    fig, axes = plt.subplots(len(items), 1, figsize=(10, sum(heights)), layout="constrained", squeeze=False,
                             gridspec_kw={"height_ratios": heights})
    for ax, item in zip(axes[:, 0], items, strict=False):
        _draw_timeline(ax, item["hypothesis"], item.get("reference"), item.get("duration"),
                       item.get("title", "Who spoke when"))
    return fig


def save_figure(fig, path: str | Path, dpi: int = 120) -> Path:
    """Write ``fig`` to ``path`` (parent folders created) and close it."""
    import matplotlib.pyplot as plt

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(target, dpi=dpi)
    plt.close(fig)
    return target


def save_timeline(path: str | Path, hypothesis: list[dict], reference: list[dict] | None = None, **kwargs) -> Path:
    return save_figure(timeline_figure(hypothesis, reference, **kwargs), path)


def read_rttm(path: str | Path) -> list[dict]:
    """Segments from an RTTM file (SPEAKER lines), without pyannote."""
    segments = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) >= 8 and parts[0] == "SPEAKER":
            start, length = float(parts[3]), float(parts[4])
            segments.append({"start": start, "end": start + length, "speaker": parts[7]})
    return sorted(segments, key=lambda s: (s["start"], s["end"]))


def der_breakdown_figure(scores: dict[str, dict], title: str = "Diarization error rate, by kind of error"):
    """Stacked bars of missed speech / false alarm / speaker confusion (in % of reference speech).

    ``scores`` maps a label (e.g. "collar 0 s") to a dict with ``missed``,
    ``false_alarm`` and ``confusion`` as fractions, as ``evaluation.evaluate`` returns.
    """
    import matplotlib.pyplot as plt

    # greys: speaker colours (PALETTE) mean a speaker everywhere else, so error kinds do not borrow them
    parts = [("missed", "missed speech", "#d0d0d0"), ("false_alarm", "false alarm", "#8c8c8c"),
             ("confusion", "speaker confusion", "#3a3a3a")]
    labels = list(scores)
    fig, ax = plt.subplots(figsize=(7, 3.8), layout="constrained")
    bottom = [0.0] * len(labels)
    for key, name, color in parts:
        values = [100 * scores[label].get(key, 0.0) for label in labels]
        ax.bar(labels, values, bottom=bottom, color=color, label=name, width=0.5, edgecolor="white")
        bottom = [b + v for b, v in zip(bottom, values, strict=False)]
    for x, total in enumerate(bottom):
        ax.annotate(f"DER {total:.1f} %", (x, total), ha="center", va="bottom", xytext=(0, 3),
                    textcoords="offset points")
    ax.set_ylabel("error (% of reference speech)")
    ax.set_ylim(0, max(bottom + [1.0]) * 1.25)
    ax.set_title(title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return fig


def talk_time_figure(hypothesis: list[dict], reference: list[dict] | None = None, title: str = "Talk time per speaker"):
    """Horizontal bars: seconds each speaker talks, hypothesis (mapped to reference labels) beside reference."""
    import matplotlib.pyplot as plt

    if reference:
        hypothesis = relabel(hypothesis, map_speakers(hypothesis, reference))
    sources = [("reference", reference)] if reference else []
    sources.append(("hypothesis", hypothesis))
    everyone = sorted({s["speaker"] for _, segs in sources for s in segs})
    colors = speaker_colors(everyone)
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(everyone) * len(sources) + 1.5), layout="constrained")
    height = 0.8 / len(sources)
    for i, (source, segs) in enumerate(sources):
        totals = [sum(s["end"] - s["start"] for s in segs if s["speaker"] == who) for who in everyone]
        ys = [y + i * height for y in range(len(everyone))]
        bars = ax.barh(ys, totals, height=height * 0.9, color=[colors[w] for w in everyone],
                       alpha=0.5 if source == "reference" else 0.95, hatch="//" if source == "reference" else None)
        ax.bar_label(bars, labels=[f"{source} {t:.1f} s" for t in totals], padding=3, fontsize=8)
    ax.set_yticks([y + height * (len(sources) - 1) / 2 for y in range(len(everyone))], everyone)
    ax.invert_yaxis()
    ax.set_xlabel("talk time (s)")
    ax.set_ylabel("speaker")
    ax.margins(x=0.3)
    ax.set_title(title + (" (hatched: reference)" if reference else ""))
    return fig


def waveform_spectrogram_figure(audio_path: str | Path, segments: list[dict], *, reference: list[dict] | None = None,
                                sr: int = 16000, title: str | None = None):
    """Waveform and log-magnitude spectrogram (librosa) with a coloured band where each speaker talks.

    Imports numpy and librosa inside: for notebooks, never for beat or Flower.
    """
    import librosa
    import librosa.display
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import Patch

    if reference:
        segments = relabel(segments, map_speakers(segments, reference))
    colors = speaker_colors(sorted(set(speakers_of(segments)) | set(speakers_of(reference or []))))
    y, sr = librosa.load(str(audio_path), sr=sr, mono=True)
    times = np.arange(len(y)) / sr
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5.6), sharex=True, layout="constrained",
                                      gridspec_kw={"height_ratios": [1, 1.6]})
    top.plot(times, y, color="#333333", linewidth=0.4)
    spec = librosa.amplitude_to_db(np.abs(librosa.stft(y, n_fft=512, hop_length=160)), ref=np.max)
    image = librosa.display.specshow(spec, sr=sr, hop_length=160, x_axis="time", y_axis="hz", ax=bottom, cmap="magma")
    fig.colorbar(image, ax=bottom, format="%+.0f dB", label="level (dB re. max)")
    for s in segments:
        top.axvspan(s["start"], s["end"], color=colors[s["speaker"]], alpha=0.25, linewidth=0)
        bottom.axvspan(s["start"], s["end"], ymin=0.94, ymax=1.0, color=colors[s["speaker"]], alpha=0.9, linewidth=0)
    top.set_ylabel("amplitude (full scale)")
    top.set_title(title or f"{Path(audio_path).name}: waveform and spectrogram, bands = who speaks (hypothesis)")
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("frequency (Hz)")
    top.legend(handles=[Patch(color=c, alpha=0.6, label=k) for k, c in colors.items() if k in speakers_of(segments)],
               loc="upper left", bbox_to_anchor=(1.0, 1.0), title="speaker", frameon=False)
    return fig
