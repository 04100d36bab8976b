"""Tags that identify equipment over BLE."""

from django.db import models

from hospital.assets.models import Asset
from hospital.facility.models import Floor, TimeStamped


class TagKind(models.TextChoices):
    IBEACON = "ibeacon", "iBeacon"
    EDDYSTONE_UID = "eddystone_uid", "Eddystone UID"
    MAC = "mac", "Bluetooth address"


class Tag(TimeStamped):
    """A BLE tag. ``tag_id`` is the canonical identity the decoders produce (see docs/protocol.md)."""

    tag_id = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=16, choices=TagKind.choices)
    mac_address = models.CharField(max_length=17, blank=True)
    asset = models.OneToOneField(Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="tag")
    is_reference = models.BooleanField(
        default=False, help_text="Fixed at a known position; used to refine calibration online."
    )
    ref_floor = models.ForeignKey(Floor, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    ref_x = models.FloatField(null=True, blank=True)
    ref_y = models.FloatField(null=True, blank=True)
    ref_z = models.FloatField(null=True, blank=True)
    battery_pct = models.FloatField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["tag_id"]

    def __str__(self):
        return self.tag_id


class LocationMethod(models.TextChoices):
    MULTILATERATION = "multilateration", "Multilateration"
    FINGERPRINT = "fingerprint", "Survey fingerprint"
    TWO_GATEWAYS = "two_gateways", "Two gateways"
    ONE_GATEWAY = "one_gateway", "One gateway (nearest)"


class CurrentLocation(models.Model):
    """Where each tag is now: one row per tag, updated by ingest as fixes arrive."""

    tag = models.OneToOneField(Tag, on_delete=models.CASCADE, primary_key=True, related_name="location")
    floor = models.ForeignKey(Floor, on_delete=models.SET_NULL, null=True, related_name="+")
    room = models.ForeignKey("facility.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    x = models.FloatField()
    y = models.FloatField()
    z = models.FloatField(default=1.0)
    accuracy_m = models.FloatField(help_text="Radius within which the tag is, with the stated confidence.")
    confidence = models.FloatField(default=0.0)
    method = models.CharField(max_length=20, choices=LocationMethod.choices)
    gateways_heard = models.PositiveSmallIntegerField(default=0)
    fixed_at = models.DateTimeField(help_text="Time of the fix.")
    last_seen_at = models.DateTimeField(help_text="Last time any gateway heard the tag.")
    room_since = models.DateTimeField(null=True, blank=True)
    moving = models.BooleanField(default=False)

    class Meta:
        ordering = ["tag"]
        indexes = [models.Index(fields=["floor", "room"]), models.Index(fields=["last_seen_at"])]

    def __str__(self):
        return f"{self.tag_id} @ {self.room or self.floor}"


class HistoryReason(models.TextChoices):
    MOVED = "moved", "Moved"
    ROOM_CHANGE = "room", "Changed room"
    FLOOR_CHANGE = "floor", "Changed floor"
    HEARTBEAT = "heartbeat", "Heartbeat"


class LocationHistory(models.Model):
    """Stored only when something meaningful changed, plus a periodic heartbeat (see retention)."""

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="history")
    t = models.DateTimeField()
    floor = models.ForeignKey(Floor, on_delete=models.SET_NULL, null=True, related_name="+")
    room = models.ForeignKey("facility.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    x = models.FloatField()
    y = models.FloatField()
    accuracy_m = models.FloatField()
    reason = models.CharField(max_length=12, choices=HistoryReason.choices)

    class Meta:
        ordering = ["-t"]
        indexes = [models.Index(fields=["tag", "t"]), models.Index(fields=["t"])]
        verbose_name_plural = "location history"

    def __str__(self):
        return f"{self.tag_id} {self.t:%Y-%m-%d %H:%M:%S} {self.reason}"


class ZoneEvent(models.Model):
    class Kind(models.TextChoices):
        ENTER = "enter", "Entered"
        LEAVE = "leave", "Left"

    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="zone_events")
    zone = models.ForeignKey("facility.Zone", on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    t = models.DateTimeField()

    class Meta:
        ordering = ["-t"]
        indexes = [models.Index(fields=["zone", "t"])]

    def __str__(self):
        return f"{self.tag_id} {self.kind} {self.zone_id}"


class CalibrationChange(models.Model):
    """Every change of a gateway's path-loss parameters, from a survey or from online refinement."""

    class Source(models.TextChoices):
        SURVEY = "survey", "Survey walk (manage.py calibrate)"
        ONLINE = "online", "Online (reference tags and gateway beacons)"

    gateway = models.ForeignKey("sensors.Gateway", on_delete=models.CASCADE, related_name="calibration_changes")
    t = models.DateTimeField(auto_now_add=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    old_ref_power_dbm = models.FloatField()
    new_ref_power_dbm = models.FloatField()
    old_exponent = models.FloatField()
    new_exponent = models.FloatField()
    samples = models.FloatField(help_text="Readings (or effective weight, online) behind the change.")
    rmse_db = models.FloatField(null=True, blank=True)
    r2 = models.FloatField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-t"]

    def __str__(self):
        return f"{self.gateway_id} {self.source} {self.t:%Y-%m-%d %H:%M}"


class SurveyPoint(models.Model):
    """A reading taken at a known position during a commissioning survey: the site's radio map."""

    gateway = models.ForeignKey("sensors.Gateway", on_delete=models.CASCADE, related_name="survey_points")
    floor = models.ForeignKey(Floor, on_delete=models.CASCADE, related_name="survey_points")
    x = models.FloatField()
    y = models.FloatField()
    z = models.FloatField()
    rssi = models.FloatField()
    t = models.FloatField(help_text="Unix seconds.")
    survey = models.CharField(max_length=200, help_text="Name of the survey file.")

    class Meta:
        ordering = ["survey", "t"]
        indexes = [models.Index(fields=["floor"])]

    def __str__(self):
        return f"{self.survey} {self.gateway_id} ({self.x:.1f}, {self.y:.1f})"


class AssetEvent(models.Model):
    """Location events people act on: an asset went missing, was found again, or left by an exit."""

    class Kind(models.TextChoices):
        MISSING = "missing", "Missing (not heard)"
        FOUND = "found", "Found again"
        EXIT = "exit", "Left through an exit"

    asset = models.ForeignKey(Asset, on_delete=models.CASCADE, related_name="location_events")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    t = models.DateTimeField()
    floor = models.ForeignKey(Floor, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    room = models.ForeignKey("facility.Room", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    zone = models.ForeignKey("facility.Zone", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    detail = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-t"]
        indexes = [models.Index(fields=["kind", "t"])]

    def __str__(self):
        return f"{self.asset} {self.kind} {self.t:%Y-%m-%d %H:%M}"
