"""The engineer's board: pending work due within the window (and everything overdue), ranked by due date
and risk, each with where the device is now, grouped by floor for a round; devices the locator cannot
place are a group of their own ("not located — last seen …"), never dropped. Also the month calendar."""

from __future__ import annotations

import calendar as cal
import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from .choices import PENDING_STATUSES, RISK_ORDER, WorkOrderStatus
from .forecasting import lookahead_days
from .locations import Whereabouts, whereabouts
from .models import Forecast, WorkOrder


@dataclass
class BoardRow:
    order: WorkOrder
    where: Whereabouts
    days_to_due: int | None
    failure_risk: float | None = None
    flags: list[str] = field(default_factory=list)
    due_band: tuple[dt.date | None, dt.date | None] = (None, None)

    @property
    def overdue(self) -> bool:
        return self.days_to_due is not None and self.days_to_due < 0

    @property
    def failure_risk_text(self) -> str:
        r = self.failure_risk
        if r is None:
            return "—"
        return "< 0.1 %" if r < 0.001 else f"{100 * r:.1f} %"

    @property
    def due_text(self) -> str:
        d = self.days_to_due
        if d is None:
            return "no due date"
        if d < 0:
            return f"overdue by {-d} day{'s' if d != -1 else ''}"
        if d == 0:
            return "due today"
        return f"due in {d} day{'s' if d != 1 else ''}"

    def sort_key(self):
        o = self.order
        return (0 if self.overdue else 1, o.due_date or dt.date.max, RISK_ORDER.get(o.risk_class, 9),
                -(self.failure_risk or 0.0), o.pk)


@dataclass
class FloorGroup:
    title: str
    floor_id: int | None
    rows: list[BoardRow]
    located: bool = True

    @property
    def overdue(self) -> int:
        return sum(r.overdue for r in self.rows)


@dataclass
class Board:
    today: dt.date
    window_days: int
    groups: list[FloorGroup]
    not_located: FloorGroup
    total: int = 0
    overdue: int = 0
    high_risk: int = 0

    @property
    def all_groups(self) -> list[FloorGroup]:
        return self.groups + ([self.not_located] if self.not_located.rows else [])


def pending_due(today: dt.date, window_days: int):
    horizon = today + dt.timedelta(days=window_days)
    return (WorkOrder.objects.filter(status__in=PENDING_STATUSES)
            .filter(Q(due_date__lte=horizon) | Q(due_date__isnull=True))
            .exclude(status=WorkOrderStatus.DEFERRED, deferred_until__gt=horizon))


def build_board(today: dt.date | None = None, *, window_days: int | None = None, kind: str = "", risk: str = "",
                department: int | None = None, floor: int | None = None, assigned_to: int | None = None,
                q: str = "") -> Board:
    today = today or timezone.localdate()
    window_days = lookahead_days() if window_days is None else window_days
    qs = pending_due(today, window_days).select_related(
        "asset__asset_type", "asset__home_department", "plan", "assigned_to", "notice")
    if kind:
        qs = qs.filter(kind=kind)
    if risk:
        qs = qs.filter(risk_class=risk)
    if department:
        qs = qs.filter(asset__home_department_id=department)
    if assigned_to:
        qs = qs.filter(assigned_to_id=assigned_to)
    if q:
        qs = qs.filter(Q(asset__asset_number__icontains=q) | Q(title__icontains=q) | Q(asset__asset_type__name__icontains=q))
    orders = list(qs)
    ids = {o.asset_id for o in orders}
    where = whereabouts(ids)
    fc = {}
    for f in Forecast.objects.filter(asset_id__in=ids).values("asset_id", "plan_id", "failure_risk", "flags", "due_p10",
                                                              "due_p90"):
        fc[(f["asset_id"], f["plan_id"])] = f
        fc.setdefault((f["asset_id"], None), f)
    rows = []
    for o in orders:
        f = fc.get((o.asset_id, o.plan_id)) or fc.get((o.asset_id, None)) or {}
        w = where.get(o.asset_id) or Whereabouts(o.asset_id, False, "never")
        rows.append(BoardRow(
            o, w, (o.due_date - today).days if o.due_date else None, f.get("failure_risk"),
            [x for x in (f.get("flags") or "").split(",") if x],
            (f.get("due_p10"), f.get("due_p90")) if o.plan_id and f.get("due_p10") else (None, None)))
    if floor:
        rows = [r for r in rows if r.where.floor_id == floor]
    rows.sort(key=BoardRow.sort_key)
    groups: dict[tuple, FloorGroup] = {}
    lost = FloorGroup("Not located", None, [], located=False)
    for r in rows:
        w = r.where
        if not w.located:
            lost.rows.append(r)
            continue
        key = (w.building, w.floor_level if w.floor_level is not None else 0, w.floor_id)
        if key not in groups:
            title = " · ".join(p for p in (w.building, w.floor_name) if p)
            groups[key] = FloorGroup(title, w.floor_id, [])
        groups[key].rows.append(r)
    ordered = [groups[k] for k in sorted(groups)]
    return Board(today, window_days, ordered, lost, total=len(rows), overdue=sum(r.overdue for r in rows),
                 high_risk=sum(r.order.risk_class == "high" for r in rows))


# ----------------------------------------------------------------------------------------------------
# Calendar
# ----------------------------------------------------------------------------------------------------


@dataclass
class Day:
    date: dt.date
    in_month: bool
    today: bool
    due: list[WorkOrder] = field(default_factory=list)
    done: list[WorkOrder] = field(default_factory=list)


@dataclass
class Month:
    year: int
    month: int
    weeks: list[list[Day]]
    today: dt.date

    @property
    def title(self) -> str:
        return dt.date(self.year, self.month, 1).strftime("%B %Y")

    @property
    def previous(self) -> str:
        d = dt.date(self.year, self.month, 1) - dt.timedelta(days=1)
        return f"{d.year:04d}-{d.month:02d}"

    @property
    def next(self) -> str:
        d = dt.date(self.year, self.month, 28) + dt.timedelta(days=7)
        return f"{d.year:04d}-{d.month:02d}"


def month_calendar(year: int, month: int, *, today: dt.date | None = None, kind: str = "") -> Month:
    today = today or timezone.localdate()
    dates = cal.Calendar(firstweekday=0).monthdatescalendar(year, month)
    first, last = dates[0][0], dates[-1][-1]
    days = {d: Day(d, d.month == month, d == today) for week in dates for d in week}
    pending = WorkOrder.objects.filter(status__in=PENDING_STATUSES, due_date__gte=first, due_date__lte=last)
    done = WorkOrder.objects.filter(status=WorkOrderStatus.DONE, completed_at__date__gte=first,
                                    completed_at__date__lte=last)
    if kind:
        pending, done = pending.filter(kind=kind), done.filter(kind=kind)
    for o in pending.select_related("asset__asset_type").order_by("due_date", "risk_class", "pk"):
        days[o.due_date].due.append(o)
    for o in done.select_related("asset__asset_type").order_by("completed_at"):
        d = timezone.localtime(o.completed_at).date()
        if d in days:
            days[d].done.append(o)
    for o in (o for d in days.values() for o in d.due):
        o.is_overdue = o.due_date < today
    return Month(year, month, [[days[d] for d in week] for week in dates], today)
