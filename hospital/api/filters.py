"""Filter classes shared by the apps' filter sets."""

from datetime import UTC

import django_filters
from django import forms
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

BIGINT = 2**63


class IdMultipleChoiceField(forms.ModelMultipleChoiceField):
    """Rejects ids that are not numbers or do not fit a database integer before any query: an ``IN``
    lookup with such a value fails in the database driver (a server error) instead of matching nothing."""

    def _check_values(self, value):
        for item in value:
            try:
                number = int(str(item))
            except ValueError:
                raise ValidationError(self.error_messages["invalid_pk_value"], code="invalid_pk_value",
                                      params={"pk": item}) from None
            if not -BIGINT <= number < BIGINT:
                raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice",
                                      params={"value": item})
        return super()._check_values(value)


class IdMultipleChoiceFilter(django_filters.ModelMultipleChoiceFilter):
    """Objects by id; repeat the parameter for more than one (``?sensor=1&sensor=2``)."""

    field_class = IdMultipleChoiceField


class UTCDateTimeField(IsoDateTimeField):
    """ISO 8601, turned into UTC here: PostgreSQL refuses UTC offsets beyond 15:59 that Python accepts
    (``2026-01-01T00:00:00+19:00``), and a year-1 or year-9999 time may not fit once converted."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Date and time out of range.", code="invalid") from None


class DateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date and time, e.g. ``2026-11-22T06:00:00Z``."""

    field_class = UTCDateTimeField
