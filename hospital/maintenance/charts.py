"""Small server-side SVG charts (bars and lines) for the maintenance pages: inline in the HTML, no
JavaScript, no CDN. Every chart has a <title> and an aria-label, and the pages show the same numbers in
a table, so nothing is conveyed by the drawing alone."""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0b5cad", "#c2410c", "#15803d", "#7c3aed", "#475569")


def _nice_max(v: float) -> float:
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if v <= m * exp:
            return m * exp
    return 10 * exp


def _fmt(v: float, percent: bool) -> str:
    if percent:
        return f"{v:.0f} %"
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.1f}"


def bar_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, title: str,
              percent: bool = False, y_max: float | None = None, target: float | None = None, width: int = 720,
              height: int = 240, rotate_labels: bool = False) -> SafeString:
    """Grouped vertical bars: one group per label, one bar per series. ``target`` draws a dashed line
    (e.g. the 100 % the high-risk PM completion must reach)."""
    n, k = len(labels), max(len(series), 1)
    left, right, top, bottom = 48, 12, 28 if len(series) > 1 else 12, 70 if rotate_labels else 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vals in series for v in vals if v is not None and math.isfinite(v)]
    vmax = y_max if y_max is not None else _nice_max(max(values + [target or 0], default=1.0))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_fmt(v, percent)}</text>')
    if n:
        group_w = plot_w / n
        bar_w = max(min(group_w * 0.8 / k, 40), 2)
        for gi, label in enumerate(labels):
            x0 = left + gi * group_w + (group_w - bar_w * k) / 2
            for si, (name, vals) in enumerate(series):
                v = vals[gi] if gi < len(vals) else None
                if v is None or not math.isfinite(v):
                    continue
                h = plot_h * min(max(v, 0) / vmax, 1.0)
                x, y = x0 + si * bar_w, top + plot_h - h
                parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 1:.1f}" height="{h:.1f}" '
                             f'fill="{PALETTE[si % len(PALETTE)]}"><title>{escape(label)} · {escape(name)}: '
                             f'{_fmt(v, percent) if percent else f"{v:g}"}</title></rect>')
            cx = left + gi * group_w + group_w / 2
            if rotate_labels:
                parts.append(f'<text class="axis" text-anchor="end" transform="translate({cx:.1f},{top + plot_h + 12})'
                             f' rotate(-35)">{escape(label)}</text>')
            elif n <= 16 or gi % math.ceil(n / 16) == 0:
                parts.append(f'<text x="{cx:.1f}" y="{top + plot_h + 18}" class="axis" text-anchor="middle">'
                             f'{escape(label)}</text>')
    if target is not None:
        y = top + plot_h - plot_h * min(target / vmax, 1.0)
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="target"/>')
    if len(series) > 1:
        x = left
        for si, (name, _) in enumerate(series):
            parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[si % len(PALETTE)]}"/>'
                         f'<text x="{x + 16}" y="16" class="legend">{escape(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped


def line_chart(labels: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, title: str,
               width: int = 720, height: int = 220, y_label: str = "") -> SafeString:
    """Lines over an evenly spaced x axis (days, weeks); gaps where a value is None."""
    n = len(labels)
    left, right, top, bottom = 48, 12, 28 if len(series) > 1 else 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [v for _, vals in series for v in vals if v is not None and math.isfinite(v)]
    vmax = _nice_max(max(values, default=1.0))
    parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
             f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i in range(5):
        v = vmax * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{_fmt(v, False)}</text>')
    if y_label:
        parts.append(f'<text x="{left}" y="{top - 4}" class="axis">{escape(y_label)}</text>')

    def x_of(i):
        return left + (plot_w * i / max(n - 1, 1))

    for si, (_name, vals) in enumerate(series):
        path, pen = [], "M"
        for i, v in enumerate(vals):
            if v is None or not math.isfinite(v):
                pen = "M"
                continue
            y = top + plot_h - plot_h * min(max(v, 0) / vmax, 1.0)
            path.append(f"{pen}{x_of(i):.1f},{y:.1f}")
            pen = "L"
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{PALETTE[si % len(PALETTE)]}" '
                     f'stroke-width="1.6"/>')
    step = max(1, math.ceil(n / 8))
    for i in range(0, n, step):
        parts.append(f'<text x="{x_of(i):.1f}" y="{top + plot_h + 18}" class="axis" text-anchor="middle">'
                     f'{escape(labels[i])}</text>')
    if len(series) > 1:
        x = left
        for si, (name, _) in enumerate(series):
            parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{PALETTE[si % len(PALETTE)]}"/>'
                         f'<text x="{x + 16}" y="16" class="legend">{escape(name)}</text>')
            x += 24 + 7 * len(name)
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
