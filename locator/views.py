"""Pages of the live map and the equipment search. Thin: data comes from ``services`` and ``search``.

* ``/map/`` picks a floor (the asset's with ``?asset=``, else the first); ``/map/<floor>/`` is the live
  map (``?asset=<id>[,<id>...]`` focuses and highlights units); ``/map/<floor>/data.json`` is the same
  snapshot the websocket sends, for scripts and as a fallback.
* ``/find/`` searches equipment (``q``, ``from`` room, ``available``); ``/find/results.json`` answers
  the same search as JSON (used by the benchmark and by integrations).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from functools import lru_cache

import orjson
from django.conf import settings
from django.contrib.auth.decorators import login_required, permission_required
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone

from hospital.assets.choices import AssetCategory, AssetStatus
from hospital.assets.models import Asset, AssetType
from hospital.facility.models import Department, Floor, Room

from . import search as finder
from . import services

VIEW = "assets.view_asset"

# One letter (or two) per category, drawn inside every marker; the shape and colour say the status.
CATEGORY_LETTERS = {
    AssetCategory.INFUSION: "I", AssetCategory.MONITORING: "M", AssetCategory.RESPIRATORY: "R",
    AssetCategory.RESUSCITATION: "D", AssetCategory.IMAGING: "U", AssetCategory.MOBILITY: "B",
    AssetCategory.THERAPY: "T", AssetCategory.DIAGNOSTIC: "E", AssetCategory.COLD_STORAGE: "F",
    AssetCategory.SURGICAL: "S",
}
STATUS_SHAPES = {
    AssetStatus.AVAILABLE: "circle", AssetStatus.IN_USE: "square", AssetStatus.NEEDS_CLEANING: "triangle",
    AssetStatus.IN_MAINTENANCE: "diamond", AssetStatus.OUT_OF_SERVICE: "octagon", AssetStatus.MISSING: "ring",
}
ROOM_STATE_LABELS = {"alarm": "Alarm", "warning": "Warning", "normal": "Normal", "no_data": "No data"}


@lru_cache(maxsize=64)
def _drawing_size(path: str, mtime: float) -> tuple[float, float] | None:
    """(width, height) in SVG user units, from the root element's viewBox (or width/height)."""
    try:
        for _, element in ET.iterparse(path, events=("start",)):
            box = element.attrib.get("viewBox")
            if box:
                parts = [float(v) for v in box.replace(",", " ").split()]
                return parts[2], parts[3]
            return float(element.attrib["width"]), float(element.attrib["height"])
    except (OSError, ET.ParseError, KeyError, ValueError, IndexError):
        return None
    return None


def plan_bounds(floor: Floor) -> list[list[float]] | None:
    """Where the drawing goes on the map, in floor metres: [[y_min, x_min], [y_max, x_max]].

    The drawing's top-left corner (0, 0) is ``origin`` units left of and above the metric origin; SVG y
    grows downwards while floor y grows north (see ``Floor.to_drawing``)."""
    if not floor.plan_svg or floor.metres_per_unit <= 0:
        return None
    path = (settings.FLOORPLAN_DIR / floor.plan_svg).resolve()
    if settings.FLOORPLAN_DIR.resolve() not in path.parents or not path.is_file():
        return None
    size = _drawing_size(str(path), path.stat().st_mtime)
    if size is None:
        return None
    w, h = size
    k = floor.metres_per_unit
    return [[(floor.origin_y - h) * k, -floor.origin_x * k], [floor.origin_y * k, (w - floor.origin_x) * k]]


def floor_label(floor: Floor) -> str:
    return floor.name


def _floors():
    return list(Floor.objects.select_related("building").order_by("building__name", "level"))


def map_config(request, floor: Floor, *, mode: str = "floor", focus: list[int] | None = None,
               extra: dict | None = None) -> dict:
    """Everything the map script needs, embedded in the page as JSON (no raw ids shown to people)."""
    rooms = list(Room.objects.filter(floor=floor).select_related("department").order_by("number"))
    extent = [[0.0, 0.0], [floor.depth_m, floor.width_m]]
    if rooms and not (floor.width_m and floor.depth_m):
        xs = [p[0] for r in rooms for p in r.polygon]
        ys = [p[1] for r in rooms for p in r.polygon]
        extent = [[min(ys), min(xs)], [max(ys), max(xs)]]
    types = AssetType.objects.order_by("name")
    return {
        "mode": mode,
        "floor": {"id": floor.pk, "name": floor.name, "building": floor.building.name, "level": floor.level,
                  "plan_url": reverse("floor-plan-svg", args=[floor.pk]) if floor.plan_svg else None,
                  "plan_bounds": plan_bounds(floor), "extent": extent},
        "floors": [{"id": f.pk, "name": f.name, "level": f.level, "url": reverse("locator:floor", args=[f.pk])}
                   for f in _floors()],
        "rooms": [{"id": r.pk, "number": r.number, "name": r.name, "type": r.get_room_type_display(),
                   "corridor": r.room_type in ("corridor", "stairs_lift"),
                   "department": r.department.name if r.department else "", "polygon": r.polygon,
                   "c": [r.centroid_x, r.centroid_y]} for r in rooms],
        "room_states": {str(k): v for k, v in services.room_states(floor).items()},
        "room_state_labels": ROOM_STATE_LABELS,
        "types": {str(t.pk): {"name": t.name, "category": t.category, "letter": CATEGORY_LETTERS.get(t.category, "?")}
                  for t in types},
        "categories": [{"code": c.value, "label": c.label, "letter": CATEGORY_LETTERS.get(c.value, "?")}
                       for c in AssetCategory],
        "statuses": [{"code": s.value, "label": s.label, "shape": STATUS_SHAPES[s]} for s in AssetStatus],
        "departments": {str(d.pk): d.name for d in Department.objects.order_by("name")},
        "focus": focus or [],
        "ws_url": f"/ws/floors/{floor.pk}/" + (f"?asset={','.join(map(str, focus))}" if mode == "asset" and focus
                                             else ""),
        "asset_url": reverse("assets:detail", args=[0]).replace("/0/", "/{id}/"),
        "map_url": reverse("locator:floor", args=[0]).replace("/0/", "/{floor}/"),
        "stale_after_s": services.STALE_AFTER_S,
        "server_time": timezone.now().timestamp(),
        **(extra or {}),
    }


def _ids(value: str) -> list[int]:
    return [int(v) for v in (value or "").split(",") if v.strip().isdigit()][:50]


@login_required
@permission_required(VIEW, raise_exception=True)
def map_index(request):
    focus = _ids(request.GET.get("asset", ""))
    if focus:
        asset = Asset.objects.filter(pk=focus[0]).select_related("installed_room").first()
        if asset is not None:
            floor_id, _ = services.asset_position(asset)
            if floor_id is not None:
                return redirect(f"{reverse('locator:floor', args=[floor_id])}?asset={','.join(map(str, focus))}")
    floor_id = request.session.get("map_floor")
    floor = Floor.objects.filter(pk=floor_id).first() if floor_id else None
    floor = floor or Floor.objects.order_by("building__name", "level").first()
    if floor is None:
        return render(request, "locator/no_floors.html", status=200)
    return redirect("locator:floor", floor.pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def floor_map(request, floor_id: int):
    floor = get_object_or_404(Floor.objects.select_related("building"), pk=floor_id)
    request.session["map_floor"] = floor.pk
    focus = _ids(request.GET.get("asset", ""))
    elsewhere = []
    for asset in Asset.objects.filter(pk__in=focus).select_related("asset_type", "installed_room"):
        where, _ = services.asset_position(asset)
        if where is not None and where != floor.pk:
            other = Floor.objects.filter(pk=where).first()
            elsewhere.append({"asset": asset, "floor": other,
                              "url": f"{reverse('locator:floor', args=[where])}?asset={asset.pk}"})
    config = map_config(request, floor, focus=focus)
    return render(request, "locator/map.html", {
        "floor": floor, "floors": _floors(), "config": config, "elsewhere": elsewhere,
        "statuses": config["statuses"], "categories": config["categories"],
        "types": AssetType.objects.order_by("name"), "departments": Department.objects.order_by("name"),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def floor_data(request, floor_id: int):
    if not Floor.objects.filter(pk=floor_id).exists():
        raise Http404("No such floor.")
    return JsonResponse(services.floor_snapshot(floor_id, asset_ids=_ids(request.GET.get("asset", "")) or None))


def _search(request):
    query = request.GET.get("q", "").strip()[:100]
    origin_text = request.GET.get("from", "").strip()[:40]
    status = request.GET.get("status", "")
    status = status if status in AssetStatus.values else ""
    # The checkbox: absent from a submitted form means "any status"; a first visit means "available only".
    available_only = not status and (request.GET.get("available") == "1" or "q" not in request.GET)
    statuses = [status] if status else [AssetStatus.AVAILABLE] if available_only else None
    origin = finder.find_room(origin_text) if origin_text else None
    result = finder.search(query, origin, statuses=statuses) if (query or status) else None
    return query, origin_text, origin, available_only, status, result


_SLOT = 987654321  # reversed once per response, then filled in: reverse() per row cost more than the search


def url_pattern(name: str) -> str:
    """The URL of ``name`` with ``{}`` where its one integer argument goes."""
    return reverse(name, args=[_SLOT]).replace(str(_SLOT), "{}")


def hit_dict(hit, urls: tuple[str, str] | None = None) -> dict:
    a = hit.asset
    map_url, asset_url = urls or (url_pattern("locator:floor"), url_pattern("assets:detail"))
    return {
        "asset": a.pk, "number": a.asset_number, "type": a.asset_type.name, "status": a.status,
        "status_label": a.get_status_display(), "make": a.manufacturer, "model": a.model,
        "floor": hit.floor.name if hit.floor else None, "floor_id": hit.floor.pk if hit.floor else None,
        "room": hit.room.number if hit.room else None, "room_name": hit.room.name if hit.room else None,
        "distance_m": hit.distance_m, "walking": hit.walked, "floors_away": hit.floors_away,
        "last_seen": hit.last_seen.isoformat() if hit.last_seen else None, "fixed": hit.fixed, "stale": hit.stale,
        "map_url": f"{map_url.format(hit.floor.pk)}?asset={a.pk}" if hit.floor else None,
        "url": asset_url.format(a.pk),
    }


def ago(dt, now=None) -> str:
    """"just now", "4 min ago", "2 h 5 min ago", "3 Mar 14:05": how people say when a unit was last heard."""
    if dt is None:
        return ""
    now = now or timezone.now()
    s = (now - dt).total_seconds()
    if s < 60:
        return "just now"
    if s < 3600:
        return f"{int(s // 60)} min ago"
    if s < 86400:
        h, m = divmod(int(s // 60), 60)
        return f"{h} h {m} min ago" if m else f"{h} h ago"
    return timezone.localtime(dt).strftime("%-d %b %H:%M")


def describe_distance(hit, origin) -> tuple[str, str]:
    """("13 m walk", "same floor") / ("about 60 m", "1 floor down") for a result row."""
    if origin is None or hit.floor is None:
        return "", ""
    if hit.floor.building_id != origin.floor.building_id:
        floors = f"in {hit.floor.building.name}"
    else:
        diff = hit.floor.level - origin.floor.level
        floors = "same floor" if diff == 0 else f"{abs(diff)} floor{'s' if abs(diff) > 1 else ''} {'up' if diff > 0 else 'down'}"
    if hit.distance_m is None:
        return "", floors
    metres = f"{hit.distance_m:.0f} m"
    return (f"{metres} walk" if hit.walked else f"{metres} away"), floors


@login_required
@permission_required(VIEW, raise_exception=True)
def find(request):
    query, origin_text, origin, available_only, status, result = _search(request)
    on_map = {}
    if result:
        for hit in result.hits:
            if hit.floor is not None:
                on_map.setdefault(hit.floor, []).append(hit.asset.pk)
    rows = []
    for hit in result.hits if result else []:
        distance, floors = describe_distance(hit, origin)
        rows.append({"hit": hit, "distance": distance, "floors": floors, "seen": ago(hit.last_seen),
                     "shape": STATUS_SHAPES.get(hit.asset.status, "circle"),
                     "map_url": f"{reverse('locator:floor', args=[hit.floor.pk])}?asset={hit.asset.pk}" if hit.floor
                     else None})
    return render(request, "locator/find.html", {
        "rows": rows,
        "query": query, "origin_text": origin_text, "origin": origin, "available_only": available_only,
        "status": status, "status_label": AssetStatus(status).label if status else "", "result": result, "origin_missing": bool(origin_text) and origin is None,
        "map_links": [{"floor": f, "url": f"{reverse('locator:floor', args=[f.pk])}?asset={','.join(map(str, ids))}",
                       "count": len(ids)} for f, ids in on_map.items()],
        "suggestions": AssetType.objects.order_by("name").values_list("name", flat=True),
        "rooms": Room.objects.exclude(room_type="corridor").order_by("number").values_list("number", "name"),
        "now": timezone.now(),
    })


@login_required
@permission_required(VIEW, raise_exception=True)
def find_json(request):
    query, origin_text, origin, available_only, status, result = _search(request)
    if origin_text and origin is None:
        return JsonResponse({"error": f"no room numbered {origin_text!r}"}, status=400)
    urls = (url_pattern("locator:floor"), url_pattern("assets:detail"))
    return HttpResponse(orjson.dumps({
        "query": query, "from": origin.number if origin else None, "available_only": available_only,
        "status": status or None, "method": result.method if result else "none", "total": result.total if result else 0,
        "elapsed_ms": result.elapsed_ms if result else 0.0,
        "results": [hit_dict(h, urls) for h in result.hits] if result else [],
    }), content_type="application/json")
