"""Facility model. Every coordinate is in metres in its floor's frame (x east, y north)."""

from django.core.exceptions import ValidationError
from django.db import models
from shapely.geometry import Polygon

from .choices import RoomType, ZoneKind


class TimeStamped(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True, editable=False)

    class Meta:
        abstract = True


class Site(TimeStamped):
    code = models.SlugField(max_length=32, unique=True, help_text="Short code used in MQTT topics.")
    name = models.CharField(max_length=200)
    address = models.CharField(max_length=300, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Building(TimeStamped):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="buildings")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "code"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="building_code_unique_per_site")]

    def __str__(self):
        return self.name


class Department(TimeStamped):
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="departments")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["site", "code"], name="department_code_unique_per_site")]

    def __str__(self):
        return self.name


class Floor(TimeStamped):
    building = models.ForeignKey(Building, on_delete=models.CASCADE, related_name="floors")
    level = models.IntegerField(
        help_text="Storey number as signed in the building (lifts, room numbers); negative below ground."
    )
    name = models.CharField(max_length=100)
    elevation_m = models.FloatField(help_text="Height of the finished floor above the site datum, metres.")
    height_m = models.FloatField(default=3.5, help_text="Floor-to-floor height, metres.")
    plan_svg = models.CharField(max_length=300, blank=True, help_text="Drawing file under floorplans/.")
    metres_per_unit = models.FloatField(help_text="Metres per drawing unit of the floor-plan SVG.")
    origin_x = models.FloatField(default=0.0, help_text="Drawing x (units) of the floor's metric origin.")
    origin_y = models.FloatField(default=0.0, help_text="Drawing y (units) of the floor's metric origin.")
    width_m = models.FloatField(default=0.0)
    depth_m = models.FloatField(default=0.0)

    class Meta:
        ordering = ["building", "level"]
        constraints = [models.UniqueConstraint(fields=["building", "level"], name="floor_level_unique_per_building")]

    def __str__(self):
        return f"{self.building.code} · {self.name}"

    def to_drawing(self, x_m: float, y_m: float) -> tuple[float, float]:
        """Floor metres to SVG units (SVG y grows downwards)."""
        return self.origin_x + x_m / self.metres_per_unit, self.origin_y - y_m / self.metres_per_unit


def validate_polygon(points) -> Polygon:
    """Raise ValidationError unless ``points`` is a simple polygon of at least 3 [x, y] vertices."""
    if not isinstance(points, list) or len(points) < 3:
        raise ValidationError("polygon needs at least 3 vertices")
    try:
        shape = Polygon([(float(x), float(y)) for x, y in points])
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"polygon vertices must be [x, y] numbers: {exc}") from exc
    if not shape.is_valid or shape.area <= 0:
        raise ValidationError("polygon is self-intersecting or has no area")
    return shape


class PolygonMixin(models.Model):
    polygon = models.JSONField(help_text="Outline as [[x, y], ...] in floor metres, not repeated at the end.")
    centroid_x = models.FloatField(default=0.0, editable=False)
    centroid_y = models.FloatField(default=0.0, editable=False)
    area_m2 = models.FloatField(default=0.0, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.compute_geometry()
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        validate_polygon(self.polygon)

    def compute_geometry(self) -> None:
        """Refresh the derived centroid and area (``save`` does it; bulk writers call it themselves)."""
        shape = Polygon(self.polygon)
        self.centroid_x, self.centroid_y = round(shape.centroid.x, 3), round(shape.centroid.y, 3)
        self.area_m2 = round(shape.area, 3)

    @property
    def shape(self) -> Polygon:
        return Polygon(self.polygon)


class Room(PolygonMixin, TimeStamped):
    floor = models.ForeignKey(Floor, on_delete=models.CASCADE, related_name="rooms")
    number = models.CharField(max_length=32, help_text="Room number as signed on the door, e.g. 3W-12.")
    name = models.CharField(max_length=200, blank=True)
    room_type = models.CharField(max_length=32, choices=RoomType.choices)
    department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="rooms"
    )

    class Meta:
        ordering = ["floor", "number"]
        constraints = [models.UniqueConstraint(fields=["floor", "number"], name="room_number_unique_per_floor")]
        indexes = [models.Index(fields=["room_type"])]

    def __str__(self):
        return f"{self.number} {self.name}".strip()


class Zone(PolygonMixin, TimeStamped):
    floor = models.ForeignKey(Floor, on_delete=models.CASCADE, related_name="zones")
    code = models.SlugField(max_length=64)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=16, choices=ZoneKind.choices)

    class Meta:
        ordering = ["floor", "code"]
        constraints = [models.UniqueConstraint(fields=["floor", "code"], name="zone_code_unique_per_floor")]

    def __str__(self):
        return self.name
