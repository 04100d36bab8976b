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
    rows = list(zip(*(a.tolist() for a in arrays), strict=True))
    quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.copy(f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(cols))
            sql = f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})"
            for lo in range(0, n, 50_000):
                cursor.executemany(sql, rows[lo : lo + 50_000])
    return n


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
