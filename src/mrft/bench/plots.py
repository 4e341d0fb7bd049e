"""The figures of a bench report, as PNG bytes: curves with bands, one panel per task
family, and the interval estimates of the headline metrics.

Plots use the Agg backend and one colour per method, the same in every figure and every
report: the baseline, the focus method, the other registered algorithms and the reference
rows take tab10's first colours in that order (:func:`colours`), any other method (an
ablation) the remaining ones in the report's order.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import to_hex

from mrft import algos
from mrft.bench.methods import reference_rows
from mrft.bench.text import cell_text, method_label

DPI = 110
PLOT_FILES = ("adaptation.png", "within_episode.png", "pretrain.png", "intervals.png")


def colours(methods: Sequence[str], baseline: str, focus: str) -> dict[str, Any]:
    """A colour per method: tab10's first ones for the baseline, the focus method, the other
    algorithms of :data:`mrft.algos.REGISTRY` and the reference rows, in this order, so the
    baseline has the same colour in every bench; then the rest in the order of ``methods``."""
    palette = plt.get_cmap("tab10").colors
    fixed = dict.fromkeys([baseline, focus, *algos.REGISTRY, *reference_rows()])
    assigned = dict(zip(fixed, palette, strict=False))
    spare = [c for c in palette if c not in assigned.values()] or list(palette)
    for i, name in enumerate(m for m in methods if m not in assigned):
        assigned[name] = spare[i % len(spare)]
    return assigned


def _palette(analysis: Mapping[str, Any], order: Sequence[str]) -> dict[str, Any]:
    return colours(order, analysis.get("baseline") or algos.BASELINE,
                   analysis.get("focus") or algos.FOCUS)


def hex_colours(analysis: Mapping[str, Any], order: Sequence[str]) -> dict[str, str]:
    """Each method's colour in the plots of :func:`render_plots`, as ``#rrggbb``."""
    return {name: to_hex(c) for name, c in _palette(analysis, order).items()
            if name in order}


def _series(entry: Mapping[str, Any] | None) -> tuple[np.ndarray, ...] | None:
    if not entry:
        return None
    steps = np.asarray(entry.get("steps") or [], dtype=float)
    mean = np.asarray(entry.get("mean") or [], dtype=float)
    if steps.size == 0 or steps.size != mean.size:
        return None
    low = np.asarray(entry.get("low") or mean, dtype=float)
    high = np.asarray(entry.get("high") or mean, dtype=float)
    if low.size != steps.size:
        low = mean
    if high.size != steps.size:
        high = mean
    return steps, mean, low, high


def short_steps(value: float, _position: Any = None) -> str:
    """Tick label for env steps: 300000 -> 300k, 2500000 -> 2.5M."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def _grid(count: int) -> tuple[int, int]:
    cols = min(count, 3)
    return math.ceil(count / cols), cols


def _save(fig: Any) -> bytes:
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    finally:
        plt.close(fig)
    return buffer.getvalue()


def _curve_plot(panels: Sequence[Mapping[str, Any]], order: Sequence[str],
                palette: Mapping[str, Any], xlabel: str, ylabel_key: str) -> bytes | None:
    """One subplot per panel, a line with a low..high band per method, reference rows dashed;
    one legend for the figure (in the grid's spare cell, else below it), since every panel
    has the same methods in the same colours; None when no data."""
    panels = [p for p in panels if any(_series(e) for e in (p.get("methods") or {}).values())]
    if not panels:
        return None
    nrows, ncols = _grid(len(panels))
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    handles: dict[str, Any] = {}
    references = reference_rows()
    for ax, panel in zip(axes.flat, panels, strict=False):
        entries = panel.get("methods") or {}
        runs = set()
        for name in [m for m in order if m in entries]:
            series = _series(entries[name])
            if series is None:
                continue
            steps, mean, low, high = series
            runs.add(entries[name].get("runs"))
            colour = palette[name]
            reference = name in references
            (line,) = ax.plot(steps, mean, color=colour, label=name, linewidth=1.6,
                              linestyle="--" if reference else "-",
                              marker="o" if steps.size <= 12 and not reference else None, markersize=3)
            ax.fill_between(steps, low, high, color=colour, alpha=0.06 if reference else 0.15,
                            linewidth=0)
            handles.setdefault(name, line)
        title = cell_text(panel.get("env"))
        runs.discard(None)
        if runs:
            title += f"  (n={min(runs)})" if len(runs) == 1 else f"  (n={min(runs)}-{max(runs)})"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(xlabel, fontsize=9)
        ax.xaxis.set_major_formatter(short_steps)
        ax.set_ylabel(cell_text(panel.get(ylabel_key)), fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    names = [m for m in order if m in handles]
    lines, labels = [handles[m] for m in names], [method_label(m) for m in names]
    if len(panels) < nrows * ncols and len(names) <= 16:
        spare = axes.flat[len(panels)]
        spare.set_visible(True)
        spare.axis("off")
        spare.legend(lines, labels, loc="center", fontsize=10 if len(names) <= 8 else 8,
                     ncol=math.ceil(len(names) / 8), frameon=False)
        fig.tight_layout()
    else:
        fig.tight_layout()
        # below the panels: outside the axes, kept by _save's bbox_inches="tight"
        fig.legend(lines, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=min(len(names), 2 * ncols), fontsize=9, frameon=False)
    return _save(fig)


def _interval_plot(panels: Sequence[Mapping[str, Any]], order: Sequence[str],
                   palette: Mapping[str, Any]) -> bytes | None:
    """Interval estimates as Agarwal et al. 2021 draw them: per metric, a low..high bar and a
    point tick per method."""
    def valid(triple: Any) -> bool:
        return isinstance(triple, Sequence) and len(triple) == 3

    panels = [p for p in panels if any(valid(t) for t in (p.get("methods") or {}).values())]
    if not panels:
        return None
    nmethods = max(len(p.get("methods") or {}) for p in panels)
    nrows, ncols = _grid(len(panels))
    height = max(1.6, 0.45 * nmethods + 1.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.8 * ncols, height * nrows), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, panel in zip(axes.flat, panels, strict=False):
        entries = panel.get("methods") or {}
        names = [m for m in order if m in entries and valid(entries[m])]
        for y, name in enumerate(names):
            point, low, high = (float(v) for v in entries[name])
            colour = palette[name]
            ax.barh(y, high - low, left=low, height=0.6, color=colour, alpha=0.75)
            ax.vlines(point, y - 0.35, y + 0.35, color="black", linewidth=2)
        ax.set_yticks(range(len(names)), names, fontsize=9)
        ax.set_ylim(-0.6, len(names) - 0.4)
        ax.invert_yaxis()
        ax.set_title(cell_text(panel.get("metric")), fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="x", alpha=0.3)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
    fig.tight_layout()
    return _save(fig)


def render_plots(analysis: Mapping[str, Any], order: Sequence[str]) -> dict[str, bytes]:
    """PNG bytes by filename, for the plots that have data; ``order`` is every method the
    plots may show, in legend order."""
    palette = _palette(analysis, order)
    curves = analysis.get("curves") or {}
    pngs = {
        "adaptation.png": _curve_plot(curves.get("adaptation") or [], order, palette,
                                      "adaptation env steps", "score"),
        "pretrain.png": _curve_plot(curves.get("pretrain") or [], order, palette,
                                    "pre-training env steps", "metric"),
        "within_episode.png": _curve_plot(curves.get("within_episode") or [], order, palette,
                                          "time step of the first episode", "ylabel"),
        "intervals.png": _interval_plot(analysis.get("intervals") or [], order, palette),
    }
    return {name: data for name, data in pngs.items() if data is not None}
