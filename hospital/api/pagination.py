"""Pagination: page numbers for inventories, a time cursor for the big time-ordered tables.

A cursor costs the same on page 1,000 as on page 1 (``WHERE t < cursor ORDER BY t DESC LIMIT n``
on the time index) and does not skip or repeat rows while ingest inserts new ones, where an offset
would do both.
"""

from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import pagination
from rest_framework.exceptions import NotFound


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 1000


class TimeCursorPagination(pagination.CursorPagination):
    """Newest first by ``t``; the primary key breaks ties so the order is total. Subclasses may order by
    another date-time field (first in ``ordering``)."""

    ordering = ("-t", "-pk")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 5000

    def decode_cursor(self, request):
        """DRF trusts the position inside the (client-held) cursor and hands it to the database, so an
        edited cursor was a server error; here it must be a date and time, or the cursor is invalid."""
        cursor = super().decode_cursor(request)
        if cursor is None or cursor.position is None:
            return cursor
        try:
            moment = parse_datetime(cursor.position)
            if moment is None:
                raise ValueError(cursor.position)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment, UTC)
            position = moment.astimezone(UTC).isoformat()
        except (ValueError, OverflowError):
            raise NotFound(self.invalid_cursor_message) from None
        return cursor._replace(position=position)
