"""Top-level pages: the landing page (shaped by the person's role), floor-plan drawings, and a health
check for load balancers.

The landing page shows what each role needs first: nurses the live map and the equipment search;
biomedical engineers also the maintenance board; facility managers also the alarm console, environment
and reports; administrators everything plus the Django admin. Links to other apps' pages appear only
when those apps are installed (their URL resolves) and the person may use them.
"""

from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.db import connection
from django.db.models import Count, Q
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import NoReverseMatch, reverse

from hospital import roles
from hospital.assets.choices import AssetStatus
from hospital.assets.models import Asset
from hospital.facility.models import Floor
from locator.views import STATUS_SHAPES

ROLE_LABELS = {
    roles.NURSE: "Nurse", roles.ENGINEER: "Biomedical engineer", roles.FACILITY_MANAGER: "Facility manager",
    roles.ADMINISTRATOR: "Administrator",
}


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def role_names(user) -> list[str]:
    names = [ROLE_LABELS.get(g.name, g.name.capitalize()) for g in user.groups.all()]
    if user.is_superuser and "Administrator" not in names:
        names.append("Administrator")
    return names


def tiles_for(user) -> list[dict]:
    """The landing page's entry points for this person, most used first."""
    tiles = []
    if user.has_perm("assets.view_asset"):
        tiles += [
            {"key": "map", "title": "Live map", "url": reverse("locator:map"),
             "text": "Where every pump, monitor and bed is now, floor by floor."},
            {"key": "find", "title": "Find equipment", "url": reverse("locator:find"),
             "text": "The nearest available unit from your room, with the walk to it."},
        ]
    board = _url("maintenance:board")
    if board and user.has_perm("maintenance.view_workorder"):
        tiles.append({"key": "maintenance", "title": "Maintenance board", "url": board,
                      "text": "Work orders and devices due for service, each with its map link."})
    console = _url("environment:console")
    if console and user.has_perm("environment.acknowledge_alarm"):
        tiles.append({"key": "alarms", "title": "Alarm console", "url": console,
                      "text": "Fridges, freezers and critical rooms: acknowledge, shelve, comment."})
        overview, excursions = _url("environment:overview"), _url("environment:excursions")
        if overview:
            tiles.append({"key": "environment", "title": "Environment", "url": overview,
                          "text": "Every monitored room and fridge with its latest readings."})
        if excursions:
            tiles.append({"key": "reports", "title": "Reports", "url": excursions,
                          "text": "Excursions and compliance reports (CSV, PDF)."})
    maintenance_reports = _url("maintenance:reports")
    if maintenance_reports and user.has_perm("maintenance.view_maintenance_report") and (
            not user.has_perm("maintenance.view_workorder") or user.has_perm("environment.acknowledge_alarm")):
        tiles.append({"key": "maintenance", "title": "Maintenance reports", "url": maintenance_reports,
                      "text": "Preventive-maintenance completion, failures and uptime."})
    if user.is_staff:
        tiles.append({"key": "admin", "title": "Administration", "url": reverse("admin:index"),
                      "text": "Users and roles, floors, equipment, tags, gateways and sensors."})
    return tiles


def floor_cards(user) -> list[dict]:
    from locator.models import CurrentLocation
    from locator.services import room_states

    floors = list(Floor.objects.select_related("building").annotate(room_count=Count("rooms")))
    counts = {
        row["floor_id"]: row for row in CurrentLocation.objects.filter(tag__asset__isnull=False).values("floor_id")
        .annotate(total=Count("tag"), available=Count("tag", filter=Q(tag__asset__status=AssetStatus.AVAILABLE)))
    }
    cards = []
    for floor in floors:
        states = list(room_states(floor).values())
        c = counts.get(floor.pk, {})
        cards.append({"floor": floor, "url": reverse("locator:floor", args=[floor.pk]),
                      "equipment": c.get("total", 0), "available": c.get("available", 0),
                      "alarm": states.count("alarm"), "warning": states.count("warning"),
                      "monitored": len(states)})
    return cards


@login_required
def home(request):
    user = request.user
    can_see_equipment = user.has_perm("assets.view_asset")
    statuses = []
    if can_see_equipment:
        counts = dict(Asset.objects.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
        statuses = [{"code": s.value, "label": s.label, "count": counts.get(s.value, 0), "shape": STATUS_SHAPES[s],
                     "url": f"{reverse('locator:find')}?q=&status={s.value}"} for s in AssetStatus]
    return render(request, "hospital/home.html", {
        "roles": role_names(user), "tiles": tiles_for(user),
        "floors": floor_cards(user) if can_see_equipment else [],
        "statuses": statuses, "asset_count": sum(s["count"] for s in statuses),
        "can_see_equipment": can_see_equipment,
    })


@login_required
@permission_required("facility.view_floor", raise_exception=True)  # the drawing is part of the floor
def floor_plan_svg(request, floor_id: int):
    floor = get_object_or_404(Floor, pk=floor_id)
    path = (settings.FLOORPLAN_DIR / floor.plan_svg).resolve()
    if not floor.plan_svg or settings.FLOORPLAN_DIR.resolve() not in path.parents or not path.is_file():
        raise Http404("This floor has no drawing.")
    # Read whole (drawings are small): a file iterator would be consumed synchronously under ASGI anyway.
    response = HttpResponse(path.read_bytes(), content_type="image/svg+xml")
    response["Cache-Control"] = "private, max-age=300"
    return response


def healthz(request):
    """Liveness for load balancers: the process answers and the database responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
