"""Top-level pages: the start page, floor-plan drawings, and a health check for load balancers."""

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, render

from hospital.assets.models import Asset
from hospital.facility.models import Floor


@login_required
def home(request):
    floors = Floor.objects.select_related("building").prefetch_related("rooms")
    return render(
        request,
        "hospital/home.html",
        {"floors": floors, "asset_count": Asset.objects.count(), "roles": [g.name for g in request.user.groups.all()]},
    )


@login_required
def floor_plan_svg(request, floor_id: int):
    floor = get_object_or_404(Floor, pk=floor_id)
    path = (settings.FLOORPLAN_DIR / floor.plan_svg).resolve()
    if not floor.plan_svg or settings.FLOORPLAN_DIR.resolve() not in path.parents or not path.is_file():
        raise Http404("This floor has no drawing.")
    return FileResponse(path.open("rb"), content_type="image/svg+xml")


def healthz(request):
    """Liveness for load balancers: the process answers and the database responds."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return JsonResponse({"status": "ok"})
    except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
        return JsonResponse({"status": "error", "database": str(exc)}, status=503)
