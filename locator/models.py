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
