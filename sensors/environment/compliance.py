"""Compliance: excursions, mean kinetic temperature, the daily temperature log and the excursion
report (CSV and PDF).

MKT comes from ``sensors.alarms.mkt`` (USP <1160>, dH/R per profile, default 10,000 K): rolling 24 h for
cold storage and 30 days for controlled room temperature (``Profile.mkt_window_s``). Raw readings are
used while they are kept; older windows use the per-minute means.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Min, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from sensors.alarms.mkt import KELVIN, mean_kinetic_temperature
from sensors.models import Reading

from .models import AlarmAction, AlarmEvent, DailyAggregate, Excursion, MinuteAggregate, TemperatureLogReview

# Quantities whose alarms are excursions of a stored product or a room's environment.
EXCURSION_QUANTITIES = frozenset({"temperature_c", "humidity_pct", "differential_pressure_pa", "co2_ppm",
                                  "pm25_ugm3"})
COLD_DEFAULT_WINDOW_S = 86400.0
PDF_COMPRESS = True  # tests switch it off to read the text


def to_dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, tz=UTC)


def sensor_tz(sensor) -> ZoneInfo:
    from .profiles import sensor_site

    site = sensor_site(sensor)
    return ZoneInfo(site.timezone if site is not None and site.timezone else "UTC")


# --------------------------------------------------------------------------- readings


def readings(sensor, quantity: str, start: datetime, end: datetime) -> tuple[list[float], list[float]]:
    """(times, values) of one quantity between start and end, from raw readings, or the per-minute means
    for the part older than the oldest raw reading kept."""
    rows = list(
        Reading.objects.filter(sensor=sensor, quantity=quantity, t__gte=start, t__lte=end)
        .order_by("t").values_list("t", "value")
    )
    times = [t.timestamp() for t, _ in rows]
    values = [v for _, v in rows]
    first_raw = rows[0][0] if rows else end
    if first_raw - start > timedelta(minutes=5):
        older = list(
            MinuteAggregate.objects.filter(sensor=sensor, quantity=quantity, minute__gte=start, minute__lt=first_raw)
            .order_by("minute").values_list("minute", "mean")
        )
        if older:
            times = [m.timestamp() + 30.0 for m, _ in older] + times
            values = [v for _, v in older] + values
    return times, values


def latest_reading(sensor, quantity: str) -> tuple[datetime, float] | None:
    return Reading.objects.filter(sensor=sensor, quantity=quantity).order_by("-t").values_list("t", "value").first()


def possible_temperatures(times: list[float], values: list[float]) -> tuple[list[float], list[float]]:
    """The readings a thermometer can give: a stored value that is not a number or at or below absolute
    zero (written by a faulty import or a bad probe) is left out of MKT rather than failing the page."""
    kept = [(t, v) for t, v in zip(times, values, strict=True) if math.isfinite(v) and v > -KELVIN]
    return [t for t, _ in kept], [v for _, v in kept]


def mkt_c(times: list[float], values: list[float], dh_r_k: float = 10_000.0) -> float | None:
    times, values = possible_temperatures(times, values)
    if not values:
        return None
    return round(float(mean_kinetic_temperature(values, times if len(times) > 1 else None, dh_r_k=dh_r_k)), 3)


def sensor_mkt(sensor, profile, end: datetime | None = None) -> dict | None:
    """The MKT of a sensor over its profile's window (24 h for cold storage, 30 d for room temperature)."""
    if profile is None or "temperature_c" not in profile.quantities:
        return None
    end = end or timezone.now()
    window = profile.mkt_window_s or COLD_DEFAULT_WINDOW_S
    times, values = readings(sensor, "temperature_c", end - timedelta(seconds=window), end)
    possible = len(possible_temperatures(times, values)[1])
    return {"window_s": window, "dh_r_k": profile.mkt_dh_r_k, "mkt_c": mkt_c(times, values, profile.mkt_dh_r_k),
            "readings": possible, "impossible": len(values) - possible}


# --------------------------------------------------------------------------- excursions


def track_excursion(alarm, unit, rows) -> None:
    """Open an excursion when an alarm of a physical limit occurs; close it when the process returns.
    ``rows`` are the (Event, AlarmEvent) pairs just stored for this alarm, in order."""
    if alarm.sensor_id is None or alarm.quantity not in EXCURSION_QUANTITIES:
        return
    profile = unit.profile
    rule = profile.rule(alarm.rule) if alarm.rule in profile.rule_ids else None
    if rule is None:
        return
    current = Excursion.objects.filter(alarm=alarm, returned_at=None).order_by("-started_at").first()
    for e, row in rows:
        if e.is_occurrence and current is None:
            start = e.t - rule.on_delay_s if e.reason == "alarm" else e.t
            current = Excursion.objects.create(
                sensor_id=alarm.sensor_id, alarm=alarm, rule=rule.id, quantity=rule.quantity, kind=rule.kind,
                threshold=rule.threshold, priority=str(rule.priority), started_at=to_dt(start), alarmed_at=row.t,
            )
        elif current is not None and e.reason == "return":
            close_excursion(current, to_dt(max(e.t - rule.off_delay_s, current.started_at.timestamp())), row.t)
            current = None
    if current is not None:
        try:
            info = unit.ev.alarm(unit.key, alarm.rule)
        except KeyError:
            info = {"active": False}
        last = rows[-1][1]
        if not info.get("active") and last.to_state not in ("active_unacknowledged", "active_acknowledged"):
            close_excursion(current, last.t, last.t)


def excursion_stats(ex: Excursion, end: datetime | None = None) -> dict:
    end = end or ex.ended_at or timezone.now()
    times, values = readings(ex.sensor, ex.quantity, ex.started_at, end) if ex.sensor_id else ([], [])
    if not values:
        return {"extreme": None, "extreme_at": None, "mkt_c": None}
    pick = max if ex.kind == "high" else min
    i = values.index(pick(values))
    return {
        "extreme": values[i], "extreme_at": to_dt(times[i]),
        "mkt_c": mkt_c(times, values) if ex.quantity == "temperature_c" else None,
    }


def close_excursion(ex: Excursion, ended_at: datetime, returned_at: datetime) -> None:
    ex.ended_at, ex.returned_at = ended_at, returned_at
    stats = excursion_stats(ex, ended_at)
    ex.extreme, ex.extreme_at, ex.mkt_c = stats["extreme"], stats["extreme_at"], stats["mkt_c"]
    ex.save(update_fields=["ended_at", "returned_at", "extreme", "extreme_at", "mkt_c"])


def excursion_history(ex: Excursion) -> list[dict]:
    """The alarm's transitions and the people's actions from the start of the excursion until it was over
    (returned and acknowledged), in time order."""
    nxt = Excursion.objects.filter(alarm=ex.alarm, started_at__gt=ex.started_at).order_by("started_at").first()
    upper = nxt.started_at if nxt else timezone.now()
    items = [
        {"t": e.t, "what": f"{e.from_state} -> {e.to_state}", "detail": e.reason, "who": e.actor}
        for e in AlarmEvent.objects.filter(alarm=ex.alarm, t__gte=ex.started_at, t__lt=upper)
    ]
    items += [
        {"t": a.created_at, "what": a.get_kind_display(), "detail": a.text, "who": a.username or "system"}
        for a in AlarmAction.objects.filter(alarm=ex.alarm, created_at__gte=ex.started_at, created_at__lt=upper)
    ]
    return sorted(items, key=lambda x: x["t"])


def excursion_rows(qs) -> list[dict]:
    out = []
    for ex in qs.select_related("sensor", "alarm", "corrective_action_by"):
        stats = ({"extreme": ex.extreme, "extreme_at": ex.extreme_at, "mkt_c": ex.mkt_c} if ex.returned_at
                 else excursion_stats(ex))
        end = ex.ended_at
        duration = ((end or timezone.now()) - ex.started_at).total_seconds()
        out.append({
            "excursion": ex, "sensor": ex.sensor.sensor_id if ex.sensor else ex.alarm.key,
            "where": ex.alarm.title, "rule": ex.rule, "quantity": ex.quantity, "kind": ex.kind,
            "threshold": ex.threshold, "priority": ex.priority, "start": ex.started_at, "end": end,
            "ongoing": end is None, "duration_s": duration, "extreme": stats["extreme"],
            "extreme_at": stats["extreme_at"], "mkt_c": stats["mkt_c"], "history": excursion_history(ex),
            "corrective_action": ex.corrective_action,
            "corrective_action_by": ex.corrective_action_by.get_username() if ex.corrective_action_by else "",
            "corrective_action_at": ex.corrective_action_at,
        })
    return out


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h} h {m:02d} min" if h else f"{m} min {s:02d} s"


def _fmt_t(dt: datetime | None) -> str:
    return timezone.localtime(dt).strftime("%Y-%m-%d %H:%M:%S") if dt else ""


def _fmt_v(v) -> str:
    return "" if v is None else f"{v:.2f}"


CSV_HEADER = ["sensor", "where", "rule", "quantity", "limit", "priority", "start", "end", "duration_s", "duration",
              "extreme", "extreme_at", "mkt_c", "alarm_history", "corrective_action", "corrective_action_by",
              "corrective_action_at"]


def excursions_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    for r in rows:
        history = "; ".join(f"{_fmt_t(h['t'])} {h['what']}" + (f" ({h['detail']})" if h["detail"] else "")
                            + (f" by {h['who']}" if h["who"] else "") for h in r["history"])
        w.writerow([
            r["sensor"], r["where"], r["rule"], r["quantity"], f"{'>' if r['kind'] == 'high' else '<'} {r['threshold']:g}",
            r["priority"], _fmt_t(r["start"]), _fmt_t(r["end"]) or "ongoing", int(r["duration_s"]),
            fmt_duration(r["duration_s"]), _fmt_v(r["extreme"]), _fmt_t(r["extreme_at"]), _fmt_v(r["mkt_c"]), history,
            r["corrective_action"], r["corrective_action_by"], _fmt_t(r["corrective_action_at"]),
        ])
    return buf.getvalue()


def _latin1(text: str) -> str:
    """The PDF core fonts speak Latin-1: replace what they cannot show."""
    text = str(text).replace("\u2192", "->").replace("\u2013", "-").replace("\u2014", "-").replace("\u2265", ">=")
    return text.replace("\u2264", "<=").encode("latin-1", "replace").decode("latin-1")


def excursions_pdf(rows: list[dict], *, title: str, subtitle: str = "") -> bytes:
    from fpdf import FPDF

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_compression(PDF_COMPRESS)
    pdf.set_title(_latin1(title))
    pdf.set_author("Hospital tracking")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, _latin1(title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 9)
    pdf.cell(0, 5, _latin1(subtitle or f"Generated {_fmt_t(timezone.now())}"), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    if not rows:
        pdf.set_font("Helvetica", "I", 11)
        pdf.cell(0, 8, "No excursions in this period.", new_x="LMARGIN", new_y="NEXT")
    widths = (42, 48, 34, 34, 34, 24, 22, 22)
    head = ("Sensor", "Where", "Rule / limit", "Start", "End", "Duration", "Extreme", "MKT C")
    for r in rows:
        pdf.set_font("Helvetica", "B", 8)
        pdf.set_fill_color(230, 236, 242)
        for w, h in zip(widths, head, strict=True):
            pdf.cell(w, 6, h, border=1, fill=True)
        pdf.ln()
        pdf.set_font("Helvetica", "", 8)
        limit = f"{r['rule']} {'>' if r['kind'] == 'high' else '<'} {r['threshold']:g}"
        cells = (r["sensor"], r["where"][:34], limit[:26], _fmt_t(r["start"]), _fmt_t(r["end"]) or "ongoing",
                 fmt_duration(r["duration_s"]), _fmt_v(r["extreme"]), _fmt_v(r["mkt_c"]))
        for w, c in zip(widths, cells, strict=True):
            pdf.cell(w, 6, _latin1(c), border=1)
        pdf.ln()
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(0, 5, "Alarm history", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 7.5)
        for h in r["history"] or [{"t": None, "what": "(none)", "detail": "", "who": ""}]:
            line = f"{_fmt_t(h['t'])}  {h['what']}" + (f"  ({h['detail']})" if h["detail"] else "") + (
                f"  by {h['who']}" if h["who"] else "")
            pdf.multi_cell(0, 4, _latin1(line), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "B", 8)
        pdf.cell(0, 5, "Corrective action", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", "", 8)
        ca = r["corrective_action"] or "(not recorded)"
        if r["corrective_action_by"]:
            ca += f"  - {r['corrective_action_by']}, {_fmt_t(r['corrective_action_at'])}"
        pdf.multi_cell(0, 4, _latin1(ca), new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    return bytes(pdf.output())


# --------------------------------------------------------------------------- daily temperature log


def daily_log(sensor, start: date, end: date, quantity: str = "temperature_c") -> list[dict]:
    """One row per local day in [start, end]: min, max, mean, count, review. Days still in the raw
    retention come from the raw readings; older ones from the daily aggregates."""
    tz = sensor_tz(sensor)
    lo = datetime.combine(start, datetime.min.time(), tzinfo=tz)
    hi = datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    raw = {
        r["d"]: r for r in Reading.objects.filter(sensor=sensor, quantity=quantity, t__gte=lo, t__lt=hi)
        .annotate(d=TruncDate("t", tzinfo=tz)).order_by().values("d")
        .annotate(n=Count("id"), lo=Min("value"), hi=Max("value"), s=Sum("value"))
    }
    agg = {a.day: a for a in DailyAggregate.objects.filter(sensor=sensor, quantity=quantity, day__gte=start,
                                                             day__lte=end)}
    reviews = {r.day: r for r in TemperatureLogReview.objects.filter(sensor=sensor, day__gte=start, day__lte=end)
               .select_related("reviewed_by")}
    excursions = list(Excursion.objects.filter(sensor=sensor, quantity=quantity, started_at__lt=hi)
                      .exclude(ended_at__lt=lo))
    out = []
    day = start
    while day <= end:
        r, a = raw.get(day), agg.get(day)
        if r is not None and (a is None or r["n"] >= a.count):
            row = {"min": r["lo"], "max": r["hi"], "mean": r["s"] / r["n"], "count": r["n"]}
        elif a is not None:
            row = {"min": a.min, "max": a.max, "mean": a.mean, "count": a.count}
        else:
            row = {"min": None, "max": None, "mean": None, "count": 0}
        d_lo = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        d_hi = d_lo + timedelta(days=1)
        row.update(day=day, review=reviews.get(day), excursions=sum(
            1 for e in excursions if e.started_at < d_hi and (e.ended_at is None or e.ended_at >= d_lo)))
        out.append(row)
        day += timedelta(days=1)
    return out


def daily_log_row(sensor, day: date, quantity: str = "temperature_c") -> dict:
    return daily_log(sensor, day, day, quantity)[0]
