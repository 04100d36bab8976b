"""Bulk reads and writes for the large maintenance tables (daily usage, usage periods): a query straight
into a DataFrame, and inserts of hundreds of thousands of rows without building model instances
(COPY on PostgreSQL, executemany on SQLite)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from django.db import connection
from django.utils import timezone


def read_frame(queryset, columns: list[str]) -> pd.DataFrame:
    """``queryset.values_list(*columns)`` as a DataFrame, fetched with one cursor (no model objects).

    Column names have ``__`` replaced by ``_``. Values come as the driver returns them (dates are
    strings on SQLite): convert with ``pd.to_datetime``.
    """
    sql, params = queryset.values_list(*columns).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    names = [c.replace("__", "_") for c in columns]
    return pd.DataFrame.from_records(rows, columns=names) if rows else pd.DataFrame(columns=names)


def _day_number_sql(column: str) -> str:
    """SQL for a date column as days since 1970-01-01 (an integer: no date objects to convert)."""
    if connection.vendor == "postgresql":
        return f"({column} - DATE '1970-01-01')"
    return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"


def read_usage(since, until, *, chunk: int = 200_000) -> pd.DataFrame:
    """Daily usage rows with ``since <= date < until`` as a long frame ``asset_id, date, hours``, read in
    chunks straight into numpy arrays (millions of rows without a Python object per value)."""
    from .models import DailyUsage

    table = connection.ops.quote_name(DailyUsage._meta.db_table)
    sql = (f"SELECT asset_id, {_day_number_sql(connection.ops.quote_name('date'))}, hours FROM {table} "
           "WHERE date >= %s AND date < %s")
    ids, days, hours = [], [], []
    with connection.cursor() as cursor:
        cursor.execute(sql, [since, until])
        while True:
            rows = cursor.fetchmany(chunk)
            if not rows:
                break
            a = np.array(rows, dtype=np.float64)
            ids.append(a[:, 0].astype(np.int64))
            days.append(a[:, 1].astype(np.int64))
            hours.append(a[:, 2])
    if not ids:
        return pd.DataFrame({"asset_id": pd.Series(dtype=np.int64), "date": pd.Series(dtype="datetime64[ns]"),
                             "hours": pd.Series(dtype=float)})
    return pd.DataFrame({"asset_id": np.concatenate(ids),
                         "date": np.concatenate(days).astype("datetime64[D]").astype("datetime64[ns]"),
                         "hours": np.concatenate(hours)})


def hours_between(asset_ids, since, until) -> tuple[np.ndarray, np.ndarray]:
    """Hours of use of each ``asset_ids[i]`` on days ``since[i] <= date < until``, and the asset's first
    usage day ever (days since 1970-01-01; NaN without any row). Correlated subqueries per asset over the
    unique (asset, date) index, one query per 2,000 assets."""
    from .models import DailyUsage

    asset_ids = [int(a) for a in asset_ids]
    since = [pd.Timestamp(d).date().isoformat() for d in since]
    out = np.zeros(len(asset_ids))
    first = np.full(len(asset_ids), np.nan)
    if not asset_ids:
        return out, first
    table = connection.ops.quote_name(DailyUsage._meta.db_table)
    cast = "CAST(%s AS DATE)" if connection.vendor == "postgresql" else "%s"
    for lo in range(0, len(asset_ids), 2000):
        part = list(zip(asset_ids[lo : lo + 2000], since[lo : lo + 2000], strict=True))
        values = ", ".join([f"(%s, {cast})"] * len(part))
        where = f"u.asset_id = p.asset_id AND u.date >= p.since AND u.date < {cast}"
        sql = (f"WITH p(asset_id, since) AS (VALUES {values}) SELECT "
               f"(SELECT COALESCE(SUM(u.hours), 0) FROM {table} u WHERE {where}), "
               f"(SELECT MIN({_day_number_sql('u.date')}) FROM {table} u WHERE u.asset_id = p.asset_id) FROM p")
        params = [v for row in part for v in row] + [pd.Timestamp(until).date().isoformat()]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            got = cursor.fetchall()
        out[lo : lo + len(part)] = [float(r[0]) for r in got]
        first[lo : lo + len(part)] = [np.nan if r[1] is None else float(r[1]) for r in got]
    return out, first


def date_strings(values) -> np.ndarray:
    """Date-likes -> 'YYYY-MM-DD' strings (what both backends accept for a date column)."""
    return np.datetime_as_string(pd.to_datetime(pd.Series(values)).to_numpy("datetime64[D]"), unit="D")


def utc_strings(values) -> np.ndarray:
    """Datetimes (aware, or naive = UTC) -> timestamp strings in UTC, as each backend stores them."""
    s = pd.to_datetime(pd.Series(values), utc=True).dt.tz_localize(None)
    text = np.char.replace(np.datetime_as_string(s.to_numpy("datetime64[us]"), unit="us"), "T", " ")
    if connection.vendor == "postgresql":
        return np.char.add(text, "+00:00")
    return text


def fast_insert(model, columns: list[str], data: dict) -> int:
    """Insert rows given as equal-length arrays per column (already in database form: see
    :func:`date_strings`, :func:`utc_strings`). Returns the number of rows."""
    table = model._meta.db_table
    cols = [model._meta.get_field(c).column for c in columns]
    arrays = [np.asarray(data[c], dtype=object) for c in columns]
    n = len(arrays[0]) if arrays else 0
    if not n:
        return 0
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # One COPY in text format, written in blocks built column-wise (much faster than a row at a time,
            # and a block at a time keeps the memory flat for millions of rows).
            with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
                for lo in range(0, n, 100_000):
                    block = zip(*(_copy_text(a[lo : lo + 100_000]) for a in arrays), strict=True)
                    copy.write(("\n".join("\t".join(r) for r in block) + "\n").encode("utf-8"))
            return n
        rows = list(zip(*(a.tolist() for a in arrays), strict=True))
        marks = ", ".join(["%s"] * len(cols))
        sql = f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})"
        for lo in range(0, n, 50_000):
            cursor.executemany(sql, rows[lo : lo + 50_000])
    return n


def _copy_text(column: np.ndarray) -> list[str]:
    """Values as PostgreSQL COPY text: \\N for NULL, backslash, tab and newline escaped."""
    out = []
    for v in column.tolist():
        if v is None or (isinstance(v, float) and v != v):
            out.append("\\N")
        elif isinstance(v, str):
            out.append(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r"))
        elif isinstance(v, bool):
            out.append("t" if v else "f")
        else:
            out.append(str(v))
    return out


def local_dates(values) -> pd.Series:
    """Datetimes (aware or naive UTC, strings on SQLite) -> local calendar day as naive midnight."""
    s = pd.to_datetime(pd.Series(values).reset_index(drop=True), utc=True, format="ISO8601")
    return s.dt.tz_convert(str(timezone.get_current_timezone())).dt.tz_localize(None).dt.normalize()


def to_dates(values) -> pd.Series:
    """Dates (date objects, or 'YYYY-MM-DD' strings on SQLite) -> naive midnight datetimes."""
    s = pd.Series(values).reset_index(drop=True)
    first = s.dropna().iloc[0] if s.notna().any() else None
    if isinstance(first, str):
        return pd.to_datetime(s, format="%Y-%m-%d")
    return pd.to_datetime(s).dt.normalize()
