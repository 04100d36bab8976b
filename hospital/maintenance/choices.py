"""Controlled vocabularies of maintenance: plan and work-order kinds, the work-order lifecycle, where a
day of usage came from, and how a room type counts towards usage."""

from django.db import models


class PlanKind(models.TextChoices):
    PREVENTIVE = "preventive", "Preventive maintenance"
    CALIBRATION = "calibration", "Calibration"


class CountFrom(models.TextChoices):
    COMPLETION = "completion", "From the completion date"
    PLANNED = "planned", "From the planned date"


class WorkOrderKind(models.TextChoices):
    PREVENTIVE = "preventive", "Preventive maintenance"
    CALIBRATION = "calibration", "Calibration"
    REPAIR = "repair", "Repair"
    RECALL = "recall", "Recall / safety notice"


PLANNED_KINDS = (WorkOrderKind.PREVENTIVE, WorkOrderKind.CALIBRATION)  # scheduled from a plan


class WorkOrderStatus(models.TextChoices):
    OPEN = "open", "Open"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COULD_NOT_LOCATE = "could_not_locate", "Could not locate"
    DEFERRED = "deferred", "Deferred"
    DONE = "done", "Done"
    CANCELLED = "cancelled", "Cancelled"


PENDING_STATUSES = (
    WorkOrderStatus.OPEN,
    WorkOrderStatus.SCHEDULED,
    WorkOrderStatus.IN_PROGRESS,
    WorkOrderStatus.COULD_NOT_LOCATE,
    WorkOrderStatus.DEFERRED,
)
CLOSED_STATUSES = (WorkOrderStatus.DONE, WorkOrderStatus.CANCELLED)

# The lifecycle. Done and cancelled are final; everything else can be done, deferred or cancelled.
TRANSITIONS: dict[str, frozenset[str]] = {
    WorkOrderStatus.OPEN: frozenset(
        {"scheduled", "in_progress", "could_not_locate", "deferred", "done", "cancelled"}
    ),
    WorkOrderStatus.SCHEDULED: frozenset(
        {"open", "scheduled", "in_progress", "could_not_locate", "deferred", "done", "cancelled"}
    ),
    WorkOrderStatus.IN_PROGRESS: frozenset({"scheduled", "deferred", "done", "cancelled"}),
    WorkOrderStatus.COULD_NOT_LOCATE: frozenset(
        {"open", "scheduled", "in_progress", "could_not_locate", "deferred", "done", "cancelled"}
    ),
    WorkOrderStatus.DEFERRED: frozenset({"open", "scheduled", "in_progress", "deferred", "done", "cancelled"}),
    WorkOrderStatus.DONE: frozenset(),
    WorkOrderStatus.CANCELLED: frozenset(),
}
NEEDS_REASON = frozenset({WorkOrderStatus.DEFERRED, WorkOrderStatus.CANCELLED})


class Outcome(models.TextChoices):
    PASS = "pass", "Passed"
    PASS_WITH_REPAIRS = "pass_with_repairs", "Passed after repairs"
    FAIL = "fail", "Failed: removed from service"


class DueDriver(models.TextChoices):
    CALENDAR = "calendar", "Calendar interval"
    USAGE = "usage", "Usage hours"
    MANUAL = "manual", "Set by hand"
    NOTICE = "notice", "Safety notice"
    NONE = "none", "Not known yet"


class NoticeKind(models.TextChoices):
    RECALL = "recall", "Recall"
    FIELD_SAFETY_NOTICE = "field_safety_notice", "Field safety notice"


class UsageSource(models.TextChoices):
    LOCATOR = "locator", "Derived from location and motion"
    IMPORT = "import", "Imported device log"
    DEMO = "demo", "Generated demo data"


# When several sources know the same day, the higher number wins: a device's own run-hours beat what
# the locator infers, and both beat generated demo data.
SOURCE_PRIORITY = {UsageSource.DEMO: 0, UsageSource.LOCATOR: 1, UsageSource.IMPORT: 2}


class UsageMode(models.TextChoices):
    PRESENCE = "presence", "In use while here"
    MOTION = "motion", "In use only while moving"
    IGNORE = "ignore", "Never in use here"


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


RISK_ORDER = {"high": 0, "medium": 1, "low": 2}
