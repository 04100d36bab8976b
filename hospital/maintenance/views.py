"""Pages of maintenance: the engineer's board, the calendar, a work order with its lifecycle actions, an
asset's maintenance, plans, forecasts, safety notices, the usage rules, and the department report with
its CSV downloads. Thin: every write goes through ``services``."""

from __future__ import annotations

import csv
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from hospital.assets.models import Asset
from hospital.facility.models import Department, Floor

from . import board as board_mod
from . import charts, reports, services
from .choices import PENDING_STATUSES, PlanKind, WorkOrderKind, WorkOrderStatus
from .forms import (
    CancelForm,
    CompleteForm,
    DeferForm,
    FaultForm,
    NoteForm,
    PartFormSet,
    SafetyNoticeForm,
    ScheduleForm,
)
from .locations import whereabouts
from .models import (
    DailyUsage,
    FailureModel,
    Forecast,
    ForecastRun,
    MaintenancePlan,
    SafetyNotice,
    UsageRule,
    WorkOrder,
)

VIEW = "maintenance.view_workorder"
CHANGE = "maintenance.change_workorder"
COMPLETE = "maintenance.complete_workorder"
REPORT = "maintenance.view_maintenance_report"


def _next_url(request, default: str) -> str:
    nxt = request.POST.get("next") or request.GET.get("next") or ""
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()},
                                               require_https=request.is_secure()):
        return nxt
    return default


def _can(user) -> dict:
    return {"change": user.has_perm(CHANGE), "complete": user.has_perm(COMPLETE),
            "add": user.has_perm("maintenance.add_workorder"), "notice": user.has_perm("maintenance.add_safetynotice"),
            "report": user.has_perm(REPORT), "admin_plans": user.is_staff and user.has_perm(
                "maintenance.change_maintenanceplan")}


def _int(value) -> int | None:
    return int(value) if value and str(value).isdigit() else None


# --------------------------------------------------------------------------- board and calendar


@login_required
@permission_required(VIEW, raise_exception=True)
def board(request):
    g = request.GET
    window = _int(g.get("days"))
    b = board_mod.build_board(
        window_days=min(window, 366) if window is not None else None, kind=g.get("kind", ""), risk=g.get("risk", ""),
        department=_int(g.get("department")), floor=_int(g.get("floor")),
        assigned_to=request.user.pk if g.get("mine") else None, q=g.get("q", "").strip(),
    )
    last_run = ForecastRun.objects.filter(status="done").first()
    return render(request, "maintenance/board.html", {
        "board": b, "can": _can(request.user), "filters": g, "kinds": WorkOrderKind.choices,
        "departments": Department.objects.order_by("name"), "floors": Floor.objects.select_related("building"),
        "last_run": last_run, "here": request.get_full_path(),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def calendar(request):
    today = timezone.localdate()
    try:
        y, m = (int(p) for p in request.GET.get("month", "").split("-"))
        dt.date(y, m, 1)
    except ValueError:
        y, m = today.year, today.month
    month = board_mod.month_calendar(y, m, today=today, kind=request.GET.get("kind", ""))
    return render(request, "maintenance/calendar.html", {"month": month, "kinds": WorkOrderKind.choices,
                                                         "kind": request.GET.get("kind", "")})


# --------------------------------------------------------------------------- work orders


@login_required
@permission_required(VIEW, raise_exception=True)
def work_order(request, pk: int):
    order = get_object_or_404(WorkOrder.objects.select_related(
        "asset__asset_type", "asset__home_department", "plan", "notice", "assigned_to", "completed_by", "previous"),
        pk=pk)
    where = whereabouts([order.asset_id]).get(order.asset_id)
    forecast = Forecast.objects.filter(asset=order.asset, plan=order.plan).first() if order.plan_id else None
    next_order = WorkOrder.objects.filter(previous=order).first()
    return render(request, "maintenance/work_order.html", {
        "order": order, "where": where, "forecast": forecast, "next_order": next_order,
        "events": order.events.all(), "parts": order.parts.all(), "can": _can(request.user),
        "complete_form": CompleteForm(), "parts_formset": PartFormSet(prefix="parts"), "defer_form": DeferForm(),
        "cancel_form": CancelForm(), "schedule_form": ScheduleForm(initial={"due_date": order.due_date,
                                                                           "assigned_to": order.assigned_to}),
        "note_form": NoteForm(), "today": timezone.localdate(),
        "next": _next_url(request, ""),
    })


def _completed_message(request, done: services.Completion) -> None:
    text = f"{done.order.number} is done."
    if done.next_order:
        nxt = done.next_order
        due = nxt.due_date.strftime("%-d %b %Y") if nxt.due_date else "a date the forecast will set"
        text += (f" Next {nxt.get_kind_display().lower()} scheduled for {due} ({nxt.number}, "
                 f"{nxt.get_due_driver_display().lower()}).")
    messages.success(request, text)


@login_required
@permission_required(VIEW, raise_exception=True)
def complete(request, pk: int):
    order = get_object_or_404(WorkOrder.objects.select_related("asset__asset_type", "plan"), pk=pk)
    if not request.user.has_perm(COMPLETE):
        raise PermissionDenied
    form = CompleteForm(request.POST or None)
    parts = PartFormSet(request.POST or None, prefix="parts")
    if request.method == "POST" and form.is_valid() and parts.is_valid():
        c = form.cleaned_data
        completed_at = None
        if c.get("completed_on") and c["completed_on"] < timezone.localdate():
            completed_at = timezone.make_aware(dt.datetime.combine(c["completed_on"], dt.time(12)))
        try:
            done = services.complete(
                order, user=request.user, findings=c.get("findings") or "", outcome=c.get("outcome") or "",
                downtime_hours=c.get("downtime_hours"), completed_at=completed_at,
                parts=[p for p in parts.cleaned_data if p and p.get("description")],
            )
        except services.WorkOrderError as exc:
            form.add_error(None, exc.message)
        else:
            _completed_message(request, done)
            return redirect(_next_url(request, reverse("maintenance:work-order", args=[order.pk])))
    return render(request, "maintenance/complete.html", {
        "order": order, "form": form, "parts_formset": parts, "next": _next_url(request, ""),
        "where": whereabouts([order.asset_id]).get(order.asset_id),
    })


ACTIONS = {"start", "could-not-locate", "defer", "cancel", "schedule", "reopen"}


@login_required
@require_POST
def action(request, pk: int, kind: str):
    if kind not in ACTIONS:
        raise Http404("no such action")
    if not request.user.has_perm(CHANGE):
        raise PermissionDenied
    order = get_object_or_404(WorkOrder, pk=pk)
    default = reverse("maintenance:work-order", args=[pk])
    try:
        if kind == "start":
            services.start(order, user=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"{order.number} started; the asset is marked in maintenance.")
        elif kind == "could-not-locate":
            services.could_not_locate(order, user=request.user, note=request.POST.get("note", ""))
            messages.warning(request, f"{order.number}: could not locate the device; recorded with where it was last seen.")
        elif kind == "reopen":
            services.reopen(order, user=request.user, note=request.POST.get("note", ""))
            messages.success(request, f"{order.number} reopened.")
        elif kind == "defer":
            form = DeferForm(request.POST)
            if not form.is_valid():
                raise services.WorkOrderError("Say why the work order is deferred.")
            services.defer(order, user=request.user, reason=form.cleaned_data["reason"], until=form.cleaned_data["until"])
            messages.success(request, f"{order.number} deferred.")
        elif kind == "cancel":
            form = CancelForm(request.POST)
            if not form.is_valid():
                raise services.WorkOrderError("Say why the work order is cancelled.")
            services.cancel(order, user=request.user, reason=form.cleaned_data["reason"])
            messages.success(request, f"{order.number} cancelled.")
        elif kind == "schedule":
            form = ScheduleForm(request.POST)
            if not form.is_valid():
                raise services.WorkOrderError("Check the date and the engineer.")
            services.schedule(order, user=request.user, due_date=form.cleaned_data["due_date"],
                              assigned_to=form.cleaned_data["assigned_to"], note=form.cleaned_data["note"])
            messages.success(request, f"{order.number} scheduled.")
    except services.WorkOrderError as exc:
        messages.error(request, exc.message)
    return redirect(_next_url(request, default))


# --------------------------------------------------------------------------- assets


@login_required
@permission_required(VIEW, raise_exception=True)
def asset(request, pk: int):
    a = get_object_or_404(Asset.objects.select_related("asset_type", "home_department"), pk=pk)
    today = timezone.localdate()
    since = today - dt.timedelta(days=90)
    usage = {u.date: u for u in DailyUsage.objects.filter(asset=a, date__gte=since, date__lt=today)}
    days = [since + dt.timedelta(days=i) for i in range(90)]
    chart = charts.bar_chart([d.strftime("%d %b") for d in days], [("Hours of use", [
        usage[d].hours if d in usage else None for d in days])], title=f"Daily use of {a.asset_number}, last 90 days",
        height=180)
    plans = {k: services.plan_for(a, k) for k in PlanKind.values}
    return render(request, "maintenance/asset.html", {
        "asset": a, "where": whereabouts([a.pk]).get(a.pk), "chart": chart,
        "forecasts": Forecast.objects.filter(asset=a).select_related("plan"),
        "plans": [p for p in plans.values() if p], "can": _can(request.user),
        "pending": a.work_orders.filter(status__in=PENDING_STATUSES).order_by("due_date"),
        "history": a.work_orders.exclude(status__in=PENDING_STATUSES).order_by("-completed_at", "-pk")[:50],
        "usage_90": sum(u.hours for u in usage.values()), "sources": sorted({u.get_source_display() for u in usage.values()}),
        "failure_model": FailureModel.objects.filter(asset_type=a.asset_type).first(),
        "fault_form": FaultForm(),
    })


@login_required
@permission_required("maintenance.add_workorder", raise_exception=True)
def report_fault(request, pk: int):
    a = get_object_or_404(Asset.objects.select_related("asset_type"), pk=pk)
    form = FaultForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            order = services.report_fault(a, user=request.user, description=form.cleaned_data["description"],
                                          out_of_service=form.cleaned_data["out_of_service"])
        except services.WorkOrderError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Repair {order.number} opened for {a.asset_number}.")
            return redirect("maintenance:work-order", order.pk)
    return render(request, "maintenance/report_fault.html", {"asset": a, "form": form})


# --------------------------------------------------------------------------- plans, forecasts, rules


@login_required
@permission_required("maintenance.view_maintenanceplan", raise_exception=True)
def plans(request):
    rows = (MaintenancePlan.objects.select_related("asset_type", "asset__asset_type")
            .annotate(pending=Count("work_orders", filter=Q(work_orders__status__in=PENDING_STATUSES)))
            .order_by("asset_type__name", "asset__asset_number", "kind"))
    return render(request, "maintenance/plans.html", {"plans": rows, "can": _can(request.user)})


FLAG_LABELS = {"heavy_use": "Sudden heavy use", "long_idle": "Long idle", "repeated_repairs": "Repeated repairs"}


@login_required
@permission_required("maintenance.view_forecast", raise_exception=True)
def forecasts(request):
    qs = Forecast.objects.select_related("asset__asset_type", "plan").filter(plan__isnull=False)
    flag = request.GET.get("flag", "")
    if flag in FLAG_LABELS:
        qs = qs.filter(**{flag: True})
    driver = request.GET.get("driver", "")
    if driver in ("calendar", "usage"):
        qs = qs.filter(driver=driver)
    if request.GET.get("overdue"):
        qs = qs.filter(overdue=True)
    rows = list(qs.order_by("due", "asset__asset_number")[:500])
    run = ForecastRun.objects.filter(status="done").first()
    return render(request, "maintenance/forecasts.html", {
        "rows": rows, "run": run, "flag": flag, "driver": driver, "flag_labels": FLAG_LABELS,
        "overdue": bool(request.GET.get("overdue")),
        "models": FailureModel.objects.select_related("asset_type"),
        "counts": {k: Forecast.objects.filter(**{k: True}).values("asset").distinct().count() for k in FLAG_LABELS},
    })


@login_required
@permission_required("maintenance.view_usagerule", raise_exception=True)
def usage_rules(request):
    rules = UsageRule.objects.order_by("mode", "room_type", "asset_category")
    return render(request, "maintenance/usage_rules.html", {"rules": rules, "can": _can(request.user)})


# --------------------------------------------------------------------------- safety notices


@login_required
@permission_required("maintenance.view_safetynotice", raise_exception=True)
def notices(request):
    rows = SafetyNotice.objects.annotate(
        orders=Count("work_orders"), done=Count("work_orders", filter=Q(work_orders__status=WorkOrderStatus.DONE)))
    return render(request, "maintenance/notices.html", {"notices": rows, "can": _can(request.user)})


@login_required
@permission_required("maintenance.add_safetynotice", raise_exception=True)
def notice_new(request):
    form = SafetyNoticeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        notice = form.save(commit=False)
        notice.created_by = request.user
        notice.save()
        messages.success(request, f"{notice.reference} saved: {notice.matching_assets().count()} units match. "
                                  "Apply it to create their work orders.")
        return redirect("maintenance:notice", notice.pk)
    return render(request, "maintenance/notice_form.html", {"form": form})


@login_required
@permission_required("maintenance.view_safetynotice", raise_exception=True)
def notice(request, pk: int):
    n = get_object_or_404(SafetyNotice, pk=pk)
    orders = n.work_orders.select_related("asset__asset_type", "completed_by").order_by("status", "asset__asset_number")
    return render(request, "maintenance/notice.html", {
        "notice": n, "orders": orders, "matching": n.matching_assets().count(), "can": _can(request.user),
        "done": sum(o.status == WorkOrderStatus.DONE for o in orders),
    })


@login_required
@require_POST
@permission_required("maintenance.add_workorder", raise_exception=True)
def notice_apply(request, pk: int):
    n = get_object_or_404(SafetyNotice, pk=pk)
    created = services.apply_safety_notice(n, user=request.user)
    messages.success(request, f"{n.reference}: {len(created)} work orders created, one per unit without one.")
    return redirect("maintenance:notice", n.pk)


# --------------------------------------------------------------------------- reports


@login_required
@permission_required(REPORT, raise_exception=True)
def report(request):
    f = reports.Filters.from_request(request.GET)
    r = reports.report(f)
    monthly = r["pm_monthly"]
    util = r["utilisation_by_type"]
    weekly = r["weekly_use"]
    rel = r["reliability"]
    chart_pm = charts.bar_chart(
        list(monthly["month"]), [("All planned work", list(monthly["completion"])),
                                 ("High-risk", [None if v != v else v for v in monthly["high_completion"]])],
        title="PM completion per month (%)", percent=True, y_max=100, target=100)
    chart_util = charts.bar_chart(
        list(util["type"]), [("Units", [float(v) for v in util["assets"]]),
                             ("Peak in use at once", [None if v != v else float(v) for v in util["peak_in_use"]])],
        title="Units and the most in use at the same time, per asset type", rotate_labels=True, height=300)
    chart_use = charts.line_chart([w.strftime("%d %b") for w in weekly["week"]],
                                  [("Hours of use per week", list(weekly["hours"]))],
                                  title="Hours of use of the fleet per week", y_label="hours")
    chart_mttr = charts.bar_chart(list(rel["type"]), [("MTTR (h)", [None if v != v else v for v in rel["mttr_hours"]])],
                                  title="Mean time to repair per asset type (hours)", rotate_labels=True, height=280)
    return render(request, "maintenance/report.html", {
        "r": r, "f": f, "summary": reports.summary_rows(r), "chart_pm": chart_pm, "chart_util": chart_util,
        "chart_use": chart_use, "chart_mttr": chart_mttr, "query": f.query(),
        "monthly": _records(monthly), "pm_by_type": _records(r["pm_by_type"]), "reliability": _records(rel),
        "utilisation": _records(r["utilisation"]), "utilisation_by_type": _records(util),
        "grace": reports.on_time_grace_days(),
    })


def _records(frame) -> list[dict]:
    """DataFrame rows for a template, with NaN as None (shown as "—", never "nan")."""
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            for row in frame.to_dict("records")]


CSV_TABLES = {
    "summary": "Summary", "pm-monthly": "PM completion per month", "pm-by-type": "PM completion per asset type",
    "reliability": "MTBF, MTTR and uptime per asset type", "utilisation": "Utilisation per asset type and department",
}


@login_required
@permission_required(REPORT, raise_exception=True)
def report_csv(request, table: str):
    if table not in CSV_TABLES:
        raise Http404("no such table")
    f = reports.Filters.from_request(request.GET)
    r = reports.report(f)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="maintenance-{table}-{f.start}-{f.end}.csv"'
    w = csv.writer(response)
    if table == "summary":
        w.writerow(["metric", "value", "note", "period_start", "period_end"])
        for name, value, note in reports.summary_rows(r):
            w.writerow([name, "" if value is None else value, note, f.start, f.end])
        return response
    frame = {"pm-monthly": r["pm_monthly"], "pm-by-type": r["pm_by_type"], "reliability": r["reliability"],
             "utilisation": r["utilisation"]}[table]
    w.writerow(list(frame.columns))
    for row in frame.itertuples(index=False):
        w.writerow(["" if (v is None or v != v) else v for v in row])
    return response

