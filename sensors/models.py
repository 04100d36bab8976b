"""Gateways and environmental sensors."""

from django.core.exceptions import ValidationError
from django.db import models

from hospital.assets.models import Asset
from hospital.facility.models import Floor, Room, Site, TimeStamped

from .choices import BleFormat, GatewayStatus

MAC_HELP = "Bluetooth address, upper case, colon separated (AA:BB:CC:DD:EE:FF)."


class Gateway(TimeStamped):
    """A room gateway: a BLE receiver at a known position that reports over MQTT."""

    gateway_id = models.SlugField(max_length=64, unique=True, help_text="Identity in MQTT topics and credentials.")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="gateways")
    floor = models.ForeignKey(Floor, on_delete=models.PROTECT, related_name="gateways")
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="gateways")
    x = models.FloatField(help_text="Floor metres.")
    y = models.FloatField(help_text="Floor metres.")
    z = models.FloatField(default=2.7, help_text="Height above the finished floor, metres.")
    enabled = models.BooleanField(default=True, help_text="Disabled gateways are rejected by ingest.")
    ref_power_dbm = models.FloatField(default=-59.0, help_text="Path-loss model: RSSI at 1 m.")
    path_loss_exponent = models.FloatField(default=2.0, help_text="Path-loss model: exponent.")
    status = models.CharField(max_length=16, choices=GatewayStatus.choices, default=GatewayStatus.UNKNOWN)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["gateway_id"]

    def __str__(self):
        return self.gateway_id


class Sensor(TimeStamped):
    """An environmental sensor bound to a room or to a piece of equipment."""

    sensor_id = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    mac_address = models.CharField(max_length=17, unique=True, help_text=MAC_HELP)
    ble_format = models.CharField(max_length=16, choices=BleFormat.choices)
    bindkey = models.CharField(
        max_length=32, blank=True, help_text="BTHome encryption key (32 hex digits); kept server-side only."
    )
    room = models.ForeignKey(Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="sensors")
    asset = models.ForeignKey(
        Asset, on_delete=models.SET_NULL, null=True, blank=True, related_name="sensors",
        help_text="The fridge, freezer or incubator this sensor monitors.",
    )
    profile = models.CharField(max_length=64, blank=True, help_text="Monitoring profile slug.")
    report_interval_s = models.PositiveIntegerField(default=60)
    calibrated_on = models.DateField(null=True, blank=True)
    calibration_due_on = models.DateField(null=True, blank=True)
    battery_pct = models.FloatField(null=True, blank=True, editable=False)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["sensor_id"]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.room_id is None and self.asset_id is None:
            raise ValidationError("A sensor must be bound to a room or to a piece of equipment.")
        if self.bindkey:
            try:
                if len(bytes.fromhex(self.bindkey)) != 16:
                    raise ValueError
            except ValueError as exc:
                raise ValidationError({"bindkey": "must be 32 hexadecimal digits"}) from exc
