"""The asset page: details, live location and trail on the map, status changes, utilisation and
maintenance. Thin: the status change is ``locator.services.change_asset_status`` (audited, tells maps).

Maintenance hook: when an app provides the template ``maintenance/asset_panel.html`` it is rendered in
the maintenance section with ``asset`` in its context (``utilisation_panel.html`` likewise for the
utilisation section); until then the page shows what the asset type says (intervals, risk class).
"""

from __future__ import annotations

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import get_object_or_404, redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from hospital.facility.models import Floor
from locator import services
from locator.models import LocationHistory
from locator.views import CATEGORY_LETTERS, STATUS_SHAPES, ago, map_config

from .choices import AssetStatus
from .models import Asset

VIEW = "assets.view_asset"
TRAIL_HOURS = (2, 8, 24)
CARE = {"patient_room", "icu_bay", "operating_room", "isolation_room", "protective_environment", "emergency_bay",
        "recovery_bay", "imaging"}
STORE = {"equipment_storage", "clean_utility", "sterile_storage"}
CLEANING = {"soiled_utility"}
STATUS_HELP = {
    AssetStatus.AVAILABLE: "Clean and ready for the next patient",
    AssetStatus.IN_USE: "On a patient now",
    AssetStatus.NEEDS_CLEANING: "Used: take it to the dirty utility room",
    AssetStatus.IN_MAINTENANCE: "With the biomedical engineers",
    AssetStatus.OUT_OF_SERVICE: "Do not use",
    AssetStatus.MISSING: "Not where it should be",
}


def _optional_panel(name: str, context: dict, request) -> str | None:
    try:
        return get_template(name).render(context, request)
    except TemplateDoesNotExist:
        return None


def _reverse(name: str, *args) -> str | None:
    """The URL of another app's page, or None while that app is not installed."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def utilisation(asset, location, days: int = 7) -> dict | None:
    """Share of the last ``days`` spent in care areas, in stores, at cleaning and elsewhere, from the
    location history (each row lasts until the next; the last until now)."""
    tag = getattr(asset, "tag", None)
    if tag is None:
        return None
    now = timezone.now()
    since = now - timedelta(days=days)
    rows = list(LocationHistory.objects.filter(tag=tag, t__gte=since).select_related("room").order_by("t")
                .only("t", "room__room_type", "room__number"))
    before = (LocationHistory.objects.filter(tag=tag, t__lt=since).select_related("room").order_by("-t")
              .only("t", "room__room_type", "room__number").first())
    if before is not None:
        before.t = since
        rows.insert(0, before)
    if not rows:
        return None
    buckets = {"care": 0.0, "store": 0.0, "cleaning": 0.0, "other": 0.0}
    rooms = set()
    for row, nxt in zip(rows, [*rows[1:], None], strict=True):
        end = nxt.t if nxt is not None else now
        seconds = max((end - row.t).total_seconds(), 0.0)
        kind = row.room.room_type if row.room else ""
        bucket = "care" if kind in CARE else "store" if kind in STORE else "cleaning" if kind in CLEANING else "other"
        buckets[bucket] += seconds
        if row.room:
            rooms.add(row.room.number)
    total = sum(buckets.values())
    if total < 3600:
        return {"too_short": True, "minutes": round(total / 60)}
    labels = {"care": "In care areas", "store": "In stores", "cleaning": "At cleaning", "other": "Corridors, elsewhere"}
    return {
        "days": days, "hours": round(total / 3600, 1), "rooms": len(rooms),
        "parts": [{"key": k, "label": labels[k], "pct": round(100 * v / total), "hours": round(v / 3600, 1)}
                  for k, v in buckets.items()],
    }


def trail(asset, floor_id: int | None, hours: int) -> tuple[list[dict], list[dict]]:
    """The asset's history points on ``floor_id`` over the last ``hours``, and a count per other floor."""
    tag = getattr(asset, "tag", None)
    if tag is None:
        return [], []
    since = timezone.now() - timedelta(hours=hours)
    points, others = [], {}
    for row in (LocationHistory.objects.filter(tag=tag, t__gte=since).select_related("room").order_by("t")
                .only("t", "x", "y", "floor_id", "room__number", "room__name")):
        if row.floor_id == floor_id:
            points.append({"x": row.x, "y": row.y, "t": row.t.timestamp(),
                           "room": str(row.room) if row.room else ""})
        elif row.floor_id is not None:
            others[row.floor_id] = others.get(row.floor_id, 0) + 1
    floors = {f.pk: f for f in Floor.objects.filter(pk__in=others)}
    return points, [{"floor": floors[f], "count": n, "url": f"{reverse('locator:floor', args=[f])}?asset={asset.pk}"}
                    for f, n in others.items() if f in floors]


@login_required
@permission_required(VIEW, raise_exception=True)
def asset_detail(request, pk: int):
    asset = get_object_or_404(
        Asset.objects.select_related("asset_type", "home_department", "installed_room__floor", "updated_by"), pk=pk)
    try:
        hours = int(request.GET.get("hours", 8))
    except ValueError:
        hours = 8
    hours = hours if hours in TRAIL_HOURS else 8
    floor_id, location = services.asset_position(asset)
    floor = Floor.objects.select_related("building").filter(pk=floor_id).first() if floor_id else None
    points, other_floors = trail(asset, floor_id, hours)
    config = None
    if floor is not None:
        config = map_config(request, floor, mode="asset", focus=[asset.pk], extra={"trail": points})
    due = services.maintenance_due([asset]).get(asset.pk)
    allowed = services.allowed_statuses(request.user)
    context = {
        "asset": asset, "location": location, "floor": floor, "config": config, "hours": hours,
        "trail_hours": TRAIL_HOURS, "trail_points": len(points), "other_floors": other_floors,
        "letter": CATEGORY_LETTERS.get(asset.asset_type.category, "?"), "shape": STATUS_SHAPES.get(asset.status),
        "status_choices": [{"code": s.value, "label": s.label, "help": STATUS_HELP[s], "shape": STATUS_SHAPES[s],
                            "current": s.value == asset.status} for s in AssetStatus if s.value in allowed],
        "history": services.status_history(asset, 10),
        "utilisation": utilisation(asset, location), "maintenance_due": due,
        "maintenance_url": _reverse("maintenance:asset", asset.pk) if request.user.has_perm(
            "maintenance.view_workorder") else None,
        "now": timezone.now(), "seen": ago(location.last_seen_at) if location is not None else "",
        "changed": ago(asset.updated_at) if asset.updated_by_id else "",
    }
    context["maintenance_panel"] = _optional_panel("maintenance/asset_panel.html", context, request)
    context["utilisation_panel"] = _optional_panel("maintenance/utilisation_panel.html", context, request)
    return render(request, "assets/asset_detail.html", context)


@login_required
@require_POST
def change_status(request, pk: int):
    asset = get_object_or_404(Asset.objects.select_related("asset_type"), pk=pk)
    status = request.POST.get("status", "")
    if status not in AssetStatus.values:
        messages.error(request, "Choose one of the statuses offered.")
        return redirect("assets:detail", pk)
    # PermissionDenied (not allowed to set this status) becomes the 403 page.
    changed = services.change_asset_status(asset, status, request.user, note=request.POST.get("note", ""))
    label = AssetStatus(status).label.lower()
    if changed:
        messages.success(request, f"{asset.asset_number} is now marked {label}.")
    else:
        messages.info(request, f"{asset.asset_number} was already marked {label}.")
    return redirect("assets:detail", pk)
