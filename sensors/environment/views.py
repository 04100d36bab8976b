"""Pages of environmental monitoring: the live alarm console, an alarm's history and actions, the
sensor page (chart, limits, MKT), the daily temperature log, the monitoring override, excursions and
their report (CSV, PDF). Thin: every write goes through ``services``."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from sensors.models import Sensor

from . import charts, compliance, profiles, services
from .choices import ActionKind, AlarmState
from .forms import (
    CommentForm,
    CorrectiveActionForm,
    OverrideForm,
    ReasonForm,
    ReviewForm,
    ShelveForm,
    SuppressForm,
)
from .models import Alarm, Excursion, Notification, ProfileChange

VIEW = "environment.view_alarm"
SENSORS = Sensor.objects.select_related(
    "room__floor__building__site", "asset__asset_type", "asset__installed_room__floor__building__site",
)
HIDDEN_STATES = {"shelved", "suppressed", "out_of_service"}  # listed apart on the console
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}
STATE_ORDER = {"active_unacknowledged": 0, "returned_unacknowledged": 1, "active_acknowledged": 2, "shelved": 3,
               "suppressed": 4, "out_of_service": 5, "normal": 6}


def _wants_json(request) -> bool:
    return "application/json" in request.headers.get("Accept", "") or request.headers.get(
        "X-Requested-With") == "XMLHttpRequest"


def _perms(user) -> dict:
    return {k: user.has_perm(p) for k, p in {
        "acknowledge": "environment.acknowledge_alarm", "shelve": "environment.shelve_alarm",
        "comment": "environment.comment_alarm", "suppress": "environment.suppress_alarm",
        "override": "environment.override_profile", "review": "environment.add_temperaturelogreview",
        "corrective": "environment.record_corrective_action",
    }.items()}


def _sorted_alarms(alarms):
    return sorted(alarms, key=lambda a: (STATE_ORDER.get(a.state, 9), PRIORITY_ORDER.get(a.priority, 9),
                                         -a.since.timestamp()))


# --------------------------------------------------------------------------- console


@login_required
@permission_required(VIEW, raise_exception=True)
def console(request):
    site = request.GET.get("site")
    site_id = int(site) if site and site.isdigit() else None
    snap = services.snapshot(site_id)
    alarms = _sorted_alarms(services.open_alarms(site_id))
    return render(request, "environment/console.html", {
        "alarms": [a for a in alarms if a.state not in HIDDEN_STATES],
        "hidden": [a for a in alarms if a.state in HIDDEN_STATES], "snapshot": snap, "site_id": site_id,
        "can": _perms(request.user), "shelve_form": ShelveForm(),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def console_snapshot(request):
    site = request.GET.get("site")
    return JsonResponse(services.snapshot(int(site) if site and site.isdigit() else None))


@login_required
@permission_required(VIEW, raise_exception=True)
def alarm_detail(request, pk: int):
    alarm = get_object_or_404(Alarm.objects.select_related("sensor", "gateway", "site"), pk=pk)
    return render(request, "environment/alarm_detail.html", {
        "alarm": alarm, "events": alarm.events.order_by("-t", "-id")[:200],
        "actions": alarm.actions.order_by("-created_at", "-id")[:200],
        "notifications": Notification.objects.filter(alarm=alarm).order_by("-created_at")[:50],
        "excursions": alarm.excursions.order_by("-started_at")[:20],
        "can": _perms(request.user), "shelve_form": ShelveForm(), "comment_form": CommentForm(),
        "suppress_form": SuppressForm(),
    })


@login_required
@require_POST
def alarm_action(request, pk: int, kind: str):
    """acknowledge, shelve, unshelve, comment, suppress, unsuppress, out_of_service, return_to_service."""
    alarm = get_object_or_404(Alarm, pk=pk)
    if kind not in ActionKind.values or kind == ActionKind.ESCALATE:
        return JsonResponse({"ok": False, "error": f"unknown action {kind!r}"}, status=404)
    if not services.may_act(request.user, kind):  # before the form: a refusal is a 403, not a form error
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": "permission denied"}, status=403)
        raise PermissionDenied
    text, until = "", None
    if kind == ActionKind.SHELVE:
        form = ShelveForm(request.POST)
        if not form.is_valid():
            return _action_error(request, alarm, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
        text, until = form.cleaned_data["reason"], form.until()
    elif kind == ActionKind.COMMENT:
        form = CommentForm(request.POST)
        if not form.is_valid():
            return _action_error(request, alarm, "a comment needs text")
        text = form.cleaned_data["text"]
    elif kind == ActionKind.SUPPRESS:
        form = SuppressForm(request.POST)
        if not form.is_valid():
            return _action_error(request, alarm, "give a reason and a duration")
        text = form.cleaned_data["reason"]
        hours = form.cleaned_data.get("hours")
        until = timezone.now() + timedelta(hours=hours) if hours else None
    else:
        form = ReasonForm(request.POST)
        text = form.cleaned_data.get("reason", "") if form.is_valid() else ""
    try:
        action = services.request_action(alarm, kind, request.user, text=text, until=until)
    except PermissionDenied:
        if _wants_json(request):
            return JsonResponse({"ok": False, "error": "permission denied"}, status=403)
        raise
    except ValidationError as exc:
        return _action_error(request, alarm, "; ".join(exc.messages))
    if _wants_json(request):
        return JsonResponse({"ok": True, "action": services.action_dict(action)}, status=202)
    messages.success(request, f"{action.get_kind_display()} recorded"
                     + (": the alarm service applies it within a second." if action.status == "pending" else "."))
    nxt = request.POST.get("next")
    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
        return redirect(nxt)
    return redirect("environment:alarm-detail", pk=alarm.pk)


def _action_error(request, alarm, message: str):
    if _wants_json(request):
        return JsonResponse({"ok": False, "error": message}, status=400)
    messages.error(request, message)
    return redirect("environment:alarm-detail", pk=alarm.pk)


# --------------------------------------------------------------------------- sensors


def _worst(alarms) -> Alarm | None:
    open_ = [a for a in alarms if a.state != AlarmState.NORMAL]
    return _sorted_alarms(open_)[0] if open_ else None


@login_required
@permission_required(VIEW, raise_exception=True)
def overview(request):
    sensors = list(SENSORS.select_related("profile_override").order_by("name"))
    alarms: dict[int, list] = {}
    for a in Alarm.objects.exclude(state=AlarmState.NORMAL).exclude(sensor=None):
        alarms.setdefault(a.sensor_id, []).append(a)
    rows = []
    for s in sensors:
        profile = profiles.effective_profile(s)
        quantities = [q for q in (profile.quantities if profile else ()) if q in charts.UNITS]
        main_q = next((q for q in ("temperature_c", "differential_pressure_pa", "co2_ppm", "humidity_pct")
                       if q in quantities), None)
        latest = compliance.latest_reading(s, main_q) if main_q else None
        rows.append({"sensor": s, "profile": profile, "quantity": main_q, "unit": charts.UNITS.get(main_q or "", ""),
                     "latest": latest, "worst": _worst(alarms.get(s.pk, [])), "open": len(alarms.get(s.pk, []))})
    return render(request, "environment/overview.html", {"rows": rows, "health": services.service_health()})


def _range(request) -> tuple[str, timedelta]:
    r = request.GET.get("range", "24h")
    return ("7d", timedelta(days=7)) if r == "7d" else ("24h", timedelta(hours=24))


@login_required
@permission_required(VIEW, raise_exception=True)
def sensor_detail(request, sensor_id: str):
    sensor = get_object_or_404(SENSORS, sensor_id=sensor_id)
    profile = profiles.effective_profile(sensor)
    base, how = profiles.base_profile(sensor)
    range_name, span = _range(request)
    end = timezone.now()
    start = end - span
    tz = compliance.sensor_tz(sensor)
    excursions = list(Excursion.objects.filter(sensor=sensor, started_at__lt=end).filter(
        Q(ended_at=None) | Q(ended_at__gte=start)))
    charts_out = []
    for q in (profile.quantities if profile else ("temperature_c",)):
        if q not in charts.UNITS or q in ("battery_v",):
            continue
        series = charts.sensor_series(sensor, q, start, end)
        if not series and q not in ("temperature_c", "differential_pressure_pa"):
            continue
        charts_out.append({"quantity": q, "svg": charts.chart_svg(
            series, start=start, end=end, limits=profiles.rule_limits(profile, q),
            excursions=[e for e in excursions if e.quantity == q], quantity=q,
            title=f"{sensor.name}: {q.replace('_', ' ')}, last {range_name}", tz=str(tz))})
    latest = {q: compliance.latest_reading(sensor, q) for q in (profile.quantities if profile else ())}
    return render(request, "environment/sensor_detail.html", {
        "sensor": sensor, "profile": profile, "base": base, "how": how, "override": profiles.get_override(sensor),
        "charts": charts_out, "range": range_name, "latest": latest, "units": charts.UNITS,
        "mkt": compliance.sensor_mkt(sensor, profile),
        "alarms": _sorted_alarms(Alarm.objects.filter(sensor=sensor)),
        "excursions": Excursion.objects.filter(sensor=sensor).order_by("-started_at")[:20],
        "changes": ProfileChange.objects.filter(sensor=sensor)[:20], "can": _perms(request.user),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def sensor_chart(request, sensor_id: str):
    sensor = get_object_or_404(SENSORS, sensor_id=sensor_id)
    quantity = request.GET.get("quantity", "temperature_c")
    profile = profiles.effective_profile(sensor)
    range_name, span = _range(request)
    end = timezone.now()
    start = end - span
    excursions = Excursion.objects.filter(sensor=sensor, quantity=quantity, started_at__lt=end).filter(
        Q(ended_at=None) | Q(ended_at__gte=start))
    svg = charts.chart_svg(charts.sensor_series(sensor, quantity, start, end), start=start, end=end,
                           limits=profiles.rule_limits(profile, quantity), excursions=list(excursions),
                           quantity=quantity, title=f"{sensor.name}: last {range_name}",
                           tz=str(compliance.sensor_tz(sensor)))
    return HttpResponse(svg, content_type="image/svg+xml")


def _month(request) -> tuple[date, date]:
    today = timezone.localdate()
    raw = request.GET.get("month", "")
    try:
        first = datetime.strptime(raw, "%Y-%m").date()
    except ValueError:
        first = today.replace(day=1)
    nxt = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return first, min(nxt - timedelta(days=1), today) if first <= today else first


@login_required
@permission_required(VIEW, raise_exception=True)
def sensor_log(request, sensor_id: str):
    sensor = get_object_or_404(SENSORS, sensor_id=sensor_id)
    if request.method == "POST":
        form = ReviewForm(request.POST)
        if form.is_valid():
            try:
                services.review_log(sensor, form.cleaned_data["day"], request.user, form.cleaned_data["note"])
                messages.success(request, f"{form.cleaned_data['day']} marked as reviewed.")
            except PermissionDenied:
                raise
            except ValidationError as exc:
                messages.error(request, "; ".join(exc.messages))
        return redirect(f"{request.path}?month={request.POST.get('month', '')}")
    start, end = _month(request)
    rows = compliance.daily_log(sensor, start, end) if start <= end else []
    prev = (start - timedelta(days=1)).replace(day=1)
    nxt = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return render(request, "environment/sensor_log.html", {
        "sensor": sensor, "rows": list(reversed(rows)), "month": start, "prev": prev,
        "next": nxt if nxt <= timezone.localdate() else None, "current": compliance.latest_reading(sensor, "temperature_c"),
        "can": _perms(request.user), "today": timezone.localdate(),
    })


@login_required
@permission_required("environment.override_profile", raise_exception=True)
def sensor_monitoring(request, sensor_id: str):
    sensor = get_object_or_404(SENSORS, sensor_id=sensor_id)
    override = profiles.get_override(sensor)
    cat = profiles.catalog()
    chosen = request.POST.get("profile") if request.method == "POST" else (override.profile if override else "")
    target = cat.profiles.get(chosen) if chosen else profiles.base_profile(sensor, cat)[0]
    current = (override.rules if override else {}) if (override and (override.profile or "") == (chosen or "")) else {}
    form = OverrideForm(request.POST or None, profile=target, current=current,
                        initial={"profile": override.profile if override else ""})
    if request.method == "POST" and form.is_valid():
        try:
            change = services.save_override(sensor, request.user, profile=form.cleaned_data["profile"],
                                            rules=form.rules(), reason=form.cleaned_data["reason"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Monitoring changed: {change.summary}" if change else "Nothing changed.")
            return redirect("environment:sensor", sensor_id=sensor.sensor_id)
    return render(request, "environment/sensor_monitoring.html", {
        "sensor": sensor, "form": form, "target": target, "override": override,
        "effective": profiles.effective_profile(sensor), "changes": ProfileChange.objects.filter(sensor=sensor)[:50],
    })


# --------------------------------------------------------------------------- excursions and reports


def _excursions(request):
    qs = Excursion.objects.select_related("sensor", "alarm").order_by("-started_at")
    if request.GET.get("sensor"):
        qs = qs.filter(sensor__sensor_id=request.GET["sensor"])
    if request.GET.get("quantity"):
        qs = qs.filter(quantity=request.GET["quantity"])
    if request.GET.get("id"):
        qs = qs.filter(pk__in=[int(x) for x in request.GET.getlist("id") if x.isdigit()])
    start = parse_date(request.GET.get("from", "") or "")
    end = parse_date(request.GET.get("to", "") or "")
    if start:
        qs = qs.filter(Q(ended_at=None) | Q(ended_at__date__gte=start))
    if end:
        qs = qs.filter(started_at__date__lte=end)
    return qs[:1000]


def _report_title(request) -> str:
    parts = ["Excursion report"]
    if request.GET.get("sensor"):
        parts.append(request.GET["sensor"])
    if request.GET.get("from") or request.GET.get("to"):
        parts.append(f"{request.GET.get('from', '...')} to {request.GET.get('to', '...')}")
    return " - ".join(parts)


@login_required
@permission_required("environment.view_excursion", raise_exception=True)
def excursion_list(request):
    rows = compliance.excursion_rows(_excursions(request))
    return render(request, "environment/excursions.html", {
        "rows": rows, "query": request.GET.urlencode(), "filters": request.GET,
        "sensors": Sensor.objects.filter(excursions__isnull=False).distinct().order_by("sensor_id"),
    })


@login_required
@permission_required("environment.view_excursion", raise_exception=True)
def excursion_detail(request, pk: int):
    ex = get_object_or_404(Excursion.objects.select_related("sensor", "alarm"), pk=pk)
    form = CorrectiveActionForm(request.POST or None, initial={"text": ex.corrective_action})
    if request.method == "POST" and form.is_valid():
        services.record_corrective_action(ex, request.user, form.cleaned_data["text"])
        messages.success(request, "Corrective action recorded.")
        return redirect("environment:excursion-detail", pk=ex.pk)
    row = compliance.excursion_rows(Excursion.objects.filter(pk=ex.pk))[0]
    chart = None
    if ex.sensor_id:
        pad = max(timedelta(hours=1), ((ex.ended_at or timezone.now()) - ex.started_at) / 3)
        start, end = ex.started_at - pad, min(timezone.now(), (ex.ended_at or timezone.now()) + pad)
        profile = profiles.effective_profile(ex.sensor)
        chart = charts.chart_svg(charts.sensor_series(ex.sensor, ex.quantity, start, end), start=start, end=end,
                                 limits=profiles.rule_limits(profile, ex.quantity), excursions=[ex],
                                 quantity=ex.quantity, title=f"{ex.alarm.title}: excursion",
                                 tz=str(compliance.sensor_tz(ex.sensor)))
    return render(request, "environment/excursion_detail.html", {
        "ex": ex, "row": row, "form": form, "chart": chart, "can": _perms(request.user),
    })


@login_required
@permission_required("environment.view_excursion", raise_exception=True)
def excursion_csv(request):
    body = compliance.excursions_csv(compliance.excursion_rows(_excursions(request)))
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="excursions-{timezone.localdate():%Y%m%d}.csv"'
    return response


@login_required
@permission_required("environment.view_excursion", raise_exception=True)
def excursion_pdf(request):
    rows = compliance.excursion_rows(_excursions(request))
    pdf = compliance.excursions_pdf(rows, title=_report_title(request),
                                    subtitle=f"{len(rows)} excursion(s); generated {timezone.localtime():%Y-%m-%d %H:%M} "
                                             f"by {request.user.get_username()}")
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="excursions-{timezone.localdate():%Y%m%d}.pdf"'
    return response

