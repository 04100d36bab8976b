"""Usage from the locator: periods of use and hours per day, from where each tag was and whether it moved.

Pure numpy/pandas: never imports Django (``hospital.maintenance.usage_sync`` reads the database, calls
:func:`derive_usage` and stores the result). Vectorised over all rows of all assets at once.

The rules (docs/maintenance.md, "Usage from the locator", says why)
------------------------------------------------------------------
The locator writes a history row when a tag changes room or floor, moves 3 m, and as a heartbeat every
5 minutes while it is heard. Each row starts a **segment**: the tag was in that room from the row's time
until the next row, or until it was last heard (the current location), but never longer than
``max_gap`` (a longer silence means the tag was not heard, and unheard time is not use).

Each segment takes the rule of its room type (a rule for the room type and the asset's category beats
the rule for the room type alone; no rule, or no room: not in use):

- ``presence``: in use for the whole time in the room, if the **stay** (consecutive segments in the same
  room) lasts at least ``min_dwell_minutes``: a pump parked for an hour at a bed is in use, one carried
  through the room is not;
- ``motion``: in use only while moving: a segment that starts with a movement (a ``moved``, ``room`` or
  ``floor`` row) or holds a movement-counter event counts for at most ``motion_credit`` (a wheelchair
  rolling down a corridor carries a patient, one parked there does not);
- ``ignore``: never in use (storage, utility rooms, corridors for most equipment).

Counted time is clipped to the window, merged into periods (per asset and room), and split at local
midnight into hours per day. Every day on which the tag was heard gets a row, 0 h if nothing counted,
so the forecaster can tell "idle" from "not heard".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PRESENCE, MOTION, IGNORE = "presence", "motion", "ignore"
MOTION_REASONS = ("moved", "room", "floor")
PERIOD_COLUMNS = ["asset_id", "start", "end", "room_id", "mode"]
DAILY_COLUMNS = ["asset_id", "date", "hours"]


@dataclass(frozen=True)
class UsageDerivation:
    periods: pd.DataFrame  # PERIOD_COLUMNS; start/end tz-aware UTC
    daily: pd.DataFrame  # DAILY_COLUMNS; date = local calendar day (datetime64, midnight)
    segments: int  # history segments examined


def _utc(values) -> pd.Series:
    """Naive UTC datetime64[ns] (naive input is taken as UTC)."""
    s = pd.to_datetime(pd.Series(values).reset_index(drop=True), utc=True)
    return s.dt.tz_localize(None).dt.as_unit("ns")


def _mode_of_segments(room_type: pd.Series, category: pd.Series, rules: pd.DataFrame):
    """(mode, min_dwell_minutes) per segment: the category rule beats the room-type rule."""
    r = rules.copy()
    r["asset_category"] = r["asset_category"].fillna("").astype(str)
    key = pd.DataFrame({"room_type": room_type.fillna("").astype(str).to_numpy(),
                        "asset_category": category.fillna("").astype(str).to_numpy()})
    specific = key.merge(r[r["asset_category"] != ""], on=["room_type", "asset_category"], how="left")
    general = key[["room_type"]].merge(r[r["asset_category"] == ""].drop(columns="asset_category"),
                                       on="room_type", how="left")
    mode = specific["mode"].where(specific["mode"].notna(), general["mode"]).fillna(IGNORE).to_numpy(object)
    dwell = specific["min_dwell_minutes"].where(specific["mode"].notna(), general["min_dwell_minutes"])
    return mode, dwell.fillna(0).to_numpy(float)


def derive_usage(
    history: pd.DataFrame,
    rules: pd.DataFrame,
    start,
    end,
    *,
    assets: pd.DataFrame | None = None,
    last_seen: pd.DataFrame | None = None,
    motion: pd.DataFrame | None = None,
    tz: str = "UTC",
    max_gap_minutes: float = 15.0,
    motion_credit_minutes: float = 5.0,
) -> UsageDerivation:
    """Periods of use and hours per local day in the window [start, end).

    Parameters
    ----------
    history : DataFrame ``asset_id``, ``t`` (datetime, naive = UTC), ``room_id`` (NaN = outside rooms),
        ``room_type`` (str or None), ``reason`` ("moved" | "room" | "floor" | "heartbeat"). Include the rows
        of a day or so before ``start``, so that stays running into the window are measured whole.
    rules : DataFrame ``room_type``, ``asset_category`` ("" = every category), ``mode`` ("presence" |
        "motion" | "ignore"), ``min_dwell_minutes``.
    start, end : the window (datetimes; naive = UTC).
    assets : DataFrame ``asset_id``, ``category`` (for category rules; missing = no category).
    last_seen : DataFrame ``asset_id``, ``last_seen`` (the current location's last-heard time): ends the
        last segment of each asset (else the last segment counts 0).
    motion : DataFrame ``asset_id``, ``t``: movement-counter events (an accelerometer tag's counter went
        up); a motion-rule segment holding one counts as moving.
    tz : the hospital's time zone, for the calendar days.
    max_gap_minutes : a segment never lasts longer (the tag was not heard beyond).
    motion_credit_minutes : the most a motion-rule segment counts.
    """
    start, end = pd.Timestamp(start), pd.Timestamp(end)
    start = start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC")
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    empty = UsageDerivation(pd.DataFrame(columns=PERIOD_COLUMNS), pd.DataFrame(columns=DAILY_COLUMNS), 0)
    if history is None or not len(history):
        return empty

    h = pd.DataFrame({
        "asset_id": history["asset_id"].to_numpy(),
        "t": _utc(history["t"]).to_numpy(),
        "room_id": pd.to_numeric(history["room_id"], errors="coerce").to_numpy(float),
        "room_type": history["room_type"].to_numpy(object),
        "reason": history["reason"].astype(str).to_numpy(object),
    })
    h = h[h["t"] < end.to_datetime64()].sort_values(["asset_id", "t"], kind="stable", ignore_index=True)
    if not len(h):
        return empty
    n = len(h)
    gap = np.timedelta64(int(max_gap_minutes * 60), "s").astype("timedelta64[ns]")
    t = h["t"].to_numpy("datetime64[ns]")
    asset = h["asset_id"].to_numpy()
    same_next = np.zeros(n, dtype=bool)
    same_next[:-1] = asset[1:] == asset[:-1]
    nxt = np.empty(n, dtype="datetime64[ns]")
    nxt[:-1] = t[1:]
    nxt[-1] = t[-1]
    # The last row of each asset ends when the tag was last heard (else it counts nothing).
    seen = np.array(t, copy=True)
    if last_seen is not None and len(last_seen):
        ls = pd.Series(_utc(last_seen["last_seen"]).to_numpy(), index=last_seen["asset_id"].to_numpy())
        ls = ls[~ls.index.duplicated()]
        v = ls.reindex(asset).to_numpy("datetime64[ns]")
        ok = ~np.isnat(v)
        seen[ok] = np.maximum(v[ok], t[ok])
    seg_end = np.where(same_next, nxt, seen)
    seg_end = np.minimum(np.minimum(seg_end, t + gap), np.datetime64(end.tz_localize(None), "ns"))
    seg_end = np.maximum(seg_end, t)
    dur = (seg_end - t).astype("timedelta64[s]").astype(float)

    category = pd.Series(np.full(n, "", dtype=object))
    if assets is not None and len(assets):
        cat = pd.Series(assets["category"].to_numpy(object), index=assets["asset_id"].to_numpy())
        cat = cat[~cat.index.duplicated()]
        category = pd.Series(cat.reindex(asset).fillna("").to_numpy(object))
    mode, dwell_min = _mode_of_segments(h["room_type"], category, rules)

    # Stays: consecutive, touching segments of one asset in one room.
    room = h["room_id"].to_numpy(float)
    new_stay = np.ones(n, dtype=bool)
    prev_room = np.concatenate([[np.nan], room[:-1]])
    same_room = (room == prev_room) | (np.isnan(room) & np.isnan(prev_room))
    touching = np.concatenate([[False], seg_end[:-1] == t[1:]])
    same_asset_prev = np.concatenate([[False], asset[1:] == asset[:-1]])
    new_stay[1:] = ~(same_asset_prev[1:] & same_room[1:] & touching[1:])
    stay = np.cumsum(new_stay)
    stay_seconds = np.bincount(stay, weights=dur)[stay]

    counted_end = np.array(t, copy=True)
    presence = (mode == PRESENCE) & (stay_seconds >= dwell_min * 60.0)
    counted_end[presence] = seg_end[presence]
    moving = np.isin(h["reason"].to_numpy(object), MOTION_REASONS)
    if motion is not None and len(motion):
        moving |= _holds_event(asset, t, seg_end, motion)
    is_motion = (mode == MOTION) & moving
    credit = np.timedelta64(int(motion_credit_minutes * 60), "s").astype("timedelta64[ns]")
    counted_end[is_motion] = np.minimum(seg_end[is_motion], t[is_motion] + credit)

    lo = np.datetime64(start.tz_localize(None), "ns")
    s = np.maximum(t, lo)
    e = counted_end
    keep = e > s
    pieces = pd.DataFrame({"asset_id": asset[keep], "start": s[keep], "end": e[keep], "room_id": room[keep],
                           "mode": mode[keep]})
    periods = _merge_periods(pieces)
    daily = _daily_hours(periods, h[(h["t"] >= lo)], start, end, tz)
    periods["start"] = periods["start"].dt.tz_localize("UTC")
    periods["end"] = periods["end"].dt.tz_localize("UTC")
    return UsageDerivation(periods[PERIOD_COLUMNS], daily, n)


def _holds_event(asset, t, seg_end, motion: pd.DataFrame) -> np.ndarray:
    """Whether segment i (asset[i], [t[i], seg_end[i])) holds a movement event. Rows are sorted by
    (asset, t); one searchsorted over a combined (asset code, seconds) key does it for all events."""
    codes, uniq = pd.factorize(asset, sort=False)
    m_code = pd.Index(uniq).get_indexer(motion["asset_id"].to_numpy())
    m_t = _utc(motion["t"]).to_numpy("datetime64[s]").astype(np.int64)
    ok = m_code >= 0
    big = np.int64(10**10)
    seg_key = codes.astype(np.int64) * big + t.astype("datetime64[s]").astype(np.int64)
    order = np.argsort(seg_key, kind="stable")
    ev_key = m_code[ok].astype(np.int64) * big + m_t[ok]
    idx = np.searchsorted(seg_key[order], ev_key, side="right") - 1
    valid = idx >= 0
    seg = order[idx[valid]]
    inside = (codes[seg] == m_code[ok][valid]) & (
        m_t[ok][valid] < seg_end[seg].astype("datetime64[s]").astype(np.int64)
    )
    out = np.zeros(len(t), dtype=bool)
    out[seg[inside]] = True
    return out


def _merge_periods(p: pd.DataFrame) -> pd.DataFrame:
    """Touching or overlapping pieces of one asset in one room become one period."""
    if not len(p):
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("start", "end") else object)
                             for c in PERIOD_COLUMNS})
    p = p.sort_values(["asset_id", "start"], kind="stable", ignore_index=True)
    a = p["asset_id"].to_numpy()
    room = p["room_id"].to_numpy(float)
    s = p["start"].to_numpy("datetime64[ns]")
    e = p["end"].to_numpy("datetime64[ns]")
    same = np.concatenate([[False], (a[1:] == a[:-1]) & ((room[1:] == room[:-1])
                                                        | (np.isnan(room[1:]) & np.isnan(room[:-1])))])
    # Running maximum of the end within each asset/room run, to merge overlaps as well as touches.
    run = np.cumsum(~same)
    run_end = pd.Series(e).groupby(run).cummax().to_numpy("datetime64[ns]")
    prev_end = np.concatenate([[np.datetime64("NaT", "ns")], run_end[:-1]])
    new = ~same | (s > prev_end)
    pid = np.cumsum(new)
    g = pd.DataFrame({"pid": pid, "asset_id": a, "start": s, "end": e, "room_id": room,
                      "mode": p["mode"].to_numpy(object)})
    out = g.groupby("pid", sort=False).agg(asset_id=("asset_id", "first"), start=("start", "min"),
                                           end=("end", "max"), room_id=("room_id", "first"),
                                           mode=("mode", "first"))
    return out.reset_index(drop=True)


def split_by_day(asset_id, start, end, tz: str) -> pd.DataFrame:
    """Split intervals (naive-UTC datetime64 arrays) at local midnight: ``asset_id, date, hours``."""
    s_loc = pd.DatetimeIndex(start).tz_localize("UTC").tz_convert(tz)
    e_loc = pd.DatetimeIndex(end).tz_localize("UTC").tz_convert(tz)
    d0 = s_loc.tz_localize(None).normalize().to_numpy("datetime64[D]")
    d1 = (e_loc - pd.Timedelta(nanoseconds=1)).tz_localize(None).normalize().to_numpy("datetime64[D]")
    count = np.maximum((d1 - d0).astype(np.int64) + 1, 1)
    rep = np.repeat(np.arange(len(d0)), count)
    offset = np.arange(rep.size) - np.repeat(np.cumsum(count) - count, count)
    day = d0[rep] + offset
    # Local midnights -> UTC (DST-aware).
    day_start = _local_midnight_utc(day, tz)
    day_end = _local_midnight_utc(day + 1, tz)
    s = np.maximum(np.asarray(start, "datetime64[ns]")[rep], day_start)
    e = np.minimum(np.asarray(end, "datetime64[ns]")[rep], day_end)
    hours = np.clip((e - s).astype("timedelta64[s]").astype(float) / 3600.0, 0.0, None)
    return pd.DataFrame({"asset_id": np.asarray(asset_id)[rep], "date": day.astype("datetime64[ns]"),
                         "hours": hours})


def _local_midnight_utc(days: np.ndarray, tz: str) -> np.ndarray:
    uniq, inv = np.unique(days, return_inverse=True)
    loc = pd.DatetimeIndex(uniq.astype("datetime64[ns]")).tz_localize(
        tz, ambiguous=np.zeros(len(uniq), dtype=bool), nonexistent="shift_forward"
    )
    return loc.tz_convert("UTC").tz_localize(None).to_numpy("datetime64[ns]")[inv]


def _daily_hours(periods: pd.DataFrame, rows_in_window: pd.DataFrame, start, end, tz: str) -> pd.DataFrame:
    parts = []
    if len(periods):
        parts.append(split_by_day(periods["asset_id"].to_numpy(), periods["start"].to_numpy("datetime64[ns]"),
                                  periods["end"].to_numpy("datetime64[ns]"), tz))
    if len(rows_in_window):
        heard = pd.DatetimeIndex(rows_in_window["t"].to_numpy("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
        parts.append(pd.DataFrame({"asset_id": rows_in_window["asset_id"].to_numpy(),
                                   "date": heard.tz_localize(None).normalize().to_numpy("datetime64[ns]"),
                                   "hours": 0.0}))
    if not parts:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    d = pd.concat(parts, ignore_index=True).groupby(["asset_id", "date"], as_index=False, sort=True)["hours"].sum()
    first = pd.Timestamp(start).tz_convert(tz).tz_localize(None).normalize()
    last = (pd.Timestamp(end).tz_convert(tz) - pd.Timedelta(nanoseconds=1)).tz_localize(None).normalize()
    d = d[(d["date"] >= first) & (d["date"] <= last)]
    d["hours"] = d["hours"].clip(0.0, 24.0).round(4)
    return d[DAILY_COLUMNS].reset_index(drop=True)


def peak_concurrency(periods: pd.DataFrame, group: str = "group") -> pd.DataFrame:
    """Most periods open at the same instant, per group (e.g. asset type, or type and department).

    ``periods``: columns ``group``, ``asset_id``, ``start``, ``end`` (datetimes). One sweep over all groups
    at once: +1 at each start, -1 at each end (ends sort before starts at the same instant, so a hand-over
    does not count twice). Every group's events sum to zero, so one running sum over the events sorted by
    (group, time) is each group's own running count; its maximum per group is the peak.

    Returns DataFrame indexed by group: ``peak`` (int), ``peak_at`` (UTC timestamp of the first instant
    of the peak), ``assets_used`` (distinct assets with any use).
    """
    if not len(periods):
        return pd.DataFrame(columns=["peak", "peak_at", "assets_used"])
    codes, uniq = pd.factorize(periods[group], sort=False)
    n = len(periods)
    start = pd.to_datetime(periods["start"], utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    end = pd.to_datetime(periods["end"], utc=True).to_numpy("datetime64[ns]").astype(np.int64)
    g = np.concatenate([codes, codes])
    t = np.concatenate([start, end])
    d = np.concatenate([np.ones(n, dtype=np.int64), -np.ones(n, dtype=np.int64)])
    order = np.lexsort((d, t, g))
    g, t, d = g[order], t[order], d[order]
    running = np.cumsum(d)
    best = pd.Series(running).groupby(g).idxmax().to_numpy()
    index = pd.Index(uniq, tupleize_cols=False)
    out = pd.DataFrame({"peak": running[best], "peak_at": pd.to_datetime(t[best], utc=True)},
                       index=index[np.unique(g)])
    used = pd.Series(periods["asset_id"].to_numpy()).groupby(codes).nunique()
    out["assets_used"] = used.reindex(np.unique(g)).to_numpy()
    return out
