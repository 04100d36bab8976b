"""Server-side charts as inline SVG: no JavaScript library, no CDN, printable, and readable without
colour (limits are dashed and labelled, excursions are hatched and labelled)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from html import escape
from zoneinfo import ZoneInfo

from . import compliance

PRIORITY_COLOURS = {"high": "#c8102e", "medium": "#b8860b", "low": "#0b7a8a"}
UNITS = {
    "temperature_c": "°C", "humidity_pct": "% RH", "differential_pressure_pa": "Pa", "pressure_pa": "Pa",
    "co2_ppm": "ppm", "pm25_ugm3": "µg/m³", "voc_index": "", "noise_dba": "dBA", "illuminance_lx": "lx",
    "door_open": "open", "battery_pct": "%", "battery_v": "V",
}


def bucket(times: list[float], values: list[float], start: float, end: float, n: int = 288) -> list[tuple]:
    """(t_mid, min, max, mean) per time bucket that has readings."""
    if not times or end <= start:
        return []
    width = (end - start) / n
    acc: dict[int, list[float]] = {}
    for t, v in zip(times, values, strict=True):
        i = min(n - 1, max(0, int((t - start) / width)))
        acc.setdefault(i, []).append(v)
    return [(start + (i + 0.5) * width, min(vs), max(vs), sum(vs) / len(vs)) for i, vs in sorted(acc.items())]


def sensor_series(sensor, quantity: str, start: datetime, end: datetime, n: int = 288) -> list[tuple]:
    times, values = compliance.readings(sensor, quantity, start, end)
    return bucket(times, values, start.timestamp(), end.timestamp(), n)


def _nice_step(span: float, target: int = 5) -> float:
    raw = span / max(target, 1)
    mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            return m * mag
    return 10 * mag


def chart_svg(series: list[tuple], *, start: datetime, end: datetime, limits=(), excursions=(), quantity: str = "",
              title: str = "", tz: str = "UTC", width: int = 900, height: int = 280) -> str:
    """``series`` from ``sensor_series``; ``limits`` LimitRules; ``excursions`` Excursion rows."""
    unit = UNITS.get(quantity, "")
    left, right, top, bottom = 58, 170, 28, 36
    pw, ph = width - left - right, height - top - bottom
    t0, t1 = start.timestamp(), end.timestamp()
    ys = [v for _, lo, hi, _m in series for v in (lo, hi)] + [r.threshold for r in limits]
    if not ys:
        ys = [0.0, 1.0]
    ymin, ymax = min(ys), max(ys)
    if ymax - ymin < 1e-9:
        ymin, ymax = ymin - 1, ymax + 1
    pad = (ymax - ymin) * 0.08
    ymin, ymax = ymin - pad, ymax + pad

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return top + (ymax - v) / (ymax - ymin) * ph

    desc = f"{title}: {len(series)} points from {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
    if series:
        desc += f"; lowest {min(s[1] for s in series):.2f} {unit}, highest {max(s[2] for s in series):.2f} {unit}"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="env-chart" role="img" '
        f'aria-labelledby="chart-title">',
        f"<title id=\"chart-title\">{escape(title)}</title><desc>{escape(desc)}</desc>",
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#c8102e" stroke-width="2" stroke-opacity="0.35"/></pattern></defs>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#9aa5b1"/>',
    ]
    # excursions: hatched (not colour alone) and labelled
    for ex in excursions:
        a = max(t0, ex.started_at.timestamp())
        b = min(t1, (ex.ended_at or end).timestamp())
        if b <= a:
            continue
        out.append(f'<rect x="{x(a):.1f}" y="{top}" width="{max(1.5, x(b) - x(a)):.1f}" height="{ph}" '
                   f'fill="url(#hatch)" stroke="#c8102e" stroke-opacity="0.4"><title>Excursion {escape(ex.rule)} from '
                   f'{ex.started_at:%Y-%m-%d %H:%M}</title></rect>')
        out.append(f'<text x="{x(a) + 3:.1f}" y="{top + 12}" class="lbl" fill="#8a0b20">excursion</text>')
    # y grid
    step = _nice_step(ymax - ymin)
    v = math.ceil(ymin / step) * step
    while v <= ymax:
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#e3e8ee"/>')
        out.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="ax">{v:g}</text>')
        v += step
    # x grid: every 3 h up to two days, else daily, in the site's time zone
    zone = ZoneInfo(tz)
    span_h = (t1 - t0) / 3600
    every_h = 3 if span_h <= 48 else 24
    first = datetime.fromtimestamp(t0, zone).replace(minute=0, second=0, microsecond=0)
    if every_h == 24:
        first = first.replace(hour=0)
    tick = first
    while tick.timestamp() <= t1:
        if tick.timestamp() >= t0 and (every_h == 24 or tick.hour % every_h == 0):
            xx = x(tick.timestamp())
            label = tick.strftime("%H:%M") if every_h < 24 else tick.strftime("%a %d")
            out.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{top + ph}" stroke="#eef1f4"/>')
            out.append(f'<text x="{xx:.1f}" y="{top + ph + 16}" text-anchor="middle" class="ax">{label}</text>')
        tick += timedelta(hours=1)
    # limits: dashed lines, labelled with the rule, threshold and priority
    for i, r in enumerate(sorted(limits, key=lambda r: -r.threshold)):
        colour = PRIORITY_COLOURS.get(str(r.priority), "#555")
        yy = y(r.threshold)
        dash = "8 4" if r.kind == "high" else "3 3"
        out.append(f'<line x1="{left}" x2="{left + pw}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="{colour}" '
                   f'stroke-width="1.5" stroke-dasharray="{dash}"/>')
        sign = ">" if r.kind == "high" else "<"
        out.append(f'<text x="{left + pw + 6}" y="{yy + 4 + (i % 2) * 0:.1f}" class="lim" fill="{colour}">'
                   f'{escape(sign)} {r.threshold:g} {escape(unit)} {escape(str(r.priority))}</text>')
    # data: min-max band and mean line
    if series:
        band = [f"{x(t):.1f},{y(hi):.1f}" for t, _lo, hi, _m in series]
        band += [f"{x(t):.1f},{y(lo):.1f}" for t, lo, _hi, _m in reversed(series)]
        out.append(f'<polygon points="{" ".join(band)}" fill="#0b5cad" fill-opacity="0.15" stroke="none"/>')
        gap = 3 * (t1 - t0) / max(len(series), 1)
        path, prev = [], None
        for t, _lo, _hi, m in series:
            cmd = "M" if prev is None or t - prev > gap else "L"
            path.append(f"{cmd}{x(t):.1f},{y(m):.1f}")
            prev = t
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="#0b5cad" stroke-width="1.6"/>')
    else:
        out.append(f'<text x="{left + pw / 2}" y="{top + ph / 2}" text-anchor="middle" class="ax">No readings in '
                   "this period</text>")
    out.append(f'<text x="{left}" y="{top - 10}" class="ttl">{escape(title)} ({escape(unit)})</text>')
    out.append("</svg>")
    return "".join(out)


def now_utc() -> datetime:
    return datetime.now(tz=UTC)
