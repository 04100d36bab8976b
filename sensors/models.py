"""Gateways and environmental sensors."""

from django.core.exceptions import ValidationError
from django.db import models

from hospital.assets.models import Asset
from hospital.facility.models import Floor, Room, Site, TimeStamped

from .choices import BleFormat, GatewayStatus, Quantity

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
    path_loss_exponent = models.FloatField(default=2.5, help_text="Path-loss model: exponent.")
    mqtt_password_hash = models.CharField(
        max_length=200, blank=True, editable=False,
        help_text="Mosquitto PBKDF2 hash of this gateway's MQTT password (manage.py mqtt_credentials).",
    )
    status = models.CharField(max_length=16, choices=GatewayStatus.choices, default=GatewayStatus.UNKNOWN)
    last_seen_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Loss accounting, kept by ingest in the same transaction as the data (so a restart neither
    # re-counts nor forgets): the newest sequence number seen in the current boot, and totals.
    boot_id = models.CharField(max_length=64, blank=True, editable=False)
    last_seq = models.BigIntegerField(null=True, blank=True, editable=False)
    batches_received = models.BigIntegerField(default=0, editable=False)
    batches_duplicated = models.BigIntegerField(default=0, editable=False)
    batches_lost = models.BigIntegerField(
        default=0, editable=False,
        help_text="Counted from sequence gaps no ingest process has a batch for, a second after the gap is "
        "seen, net of batches that arrived later (also on a resend request).",
    )
    batches_recovered = models.BigIntegerField(
        default=0, editable=False, help_text="Lost batches the gateway sent again when ingest asked (resends).",
    )
    advertisements_received = models.BigIntegerField(default=0, editable=False)
    advertisements_rejected = models.BigIntegerField(default=0, editable=False)

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
    measurement_map = models.JSONField(
        default=dict, blank=True,
        help_text='Rename decoded values to quantities, e.g. {"count": {"quantity": "differential_pressure_pa", '
        '"scale": 0.01}} for a room-pressure monitor that sends BTHome signed counts (BTHome has no '
        "differential-pressure object).",
    )
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


class Reading(models.Model):
    """One measurement of one quantity by one sensor. Unique per (sensor, quantity, time), so a
    redelivered batch can never store a reading twice."""

    sensor = models.ForeignKey(Sensor, on_delete=models.CASCADE, related_name="readings")
    quantity = models.CharField(max_length=32, choices=Quantity.choices)
    t = models.DateTimeField(db_index=False)
    value = models.FloatField()
    token = models.BigIntegerField(
        null=True, blank=True, editable=False,
        help_text="The sensor's own packet counter, when it has one; tells repeats heard by several gateways apart.",
    )

    class Meta:
        ordering = ["-t"]
        constraints = [models.UniqueConstraint(fields=["sensor", "quantity", "t"], name="reading_unique")]
        indexes = [models.Index(fields=["t"], name="reading_t_idx")]

    def __str__(self):
        return f"{self.sensor_id} {self.quantity}={self.value:g} @ {self.t:%Y-%m-%d %H:%M:%S}"


class DiscoveredDevice(models.Model):
    """A BLE device heard by a gateway but not enrolled as a tag or sensor. Staff enrol from the admin."""

    tag_id = models.CharField(max_length=120, unique=True, help_text="Canonical identity from the decoders.")
    address = models.CharField(max_length=17)
    formats = models.JSONField(default=list)
    identity = models.JSONField(default=dict)
    last_measurements = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    last_gateway = models.CharField(max_length=64)
    last_rssi = models.IntegerField()
    times_heard = models.BigIntegerField(default=0)
    ignored = models.BooleanField(default=False, help_text="Hide a neighbour's device that will never be enrolled.")

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.tag_id


class DeadLetter(models.Model):
    """An MQTT message ingest could not use, kept with the reason so an operator can see and fix it."""

    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    topic = models.CharField(max_length=300)
    gateway_id = models.CharField(max_length=200, blank=True)
    reason = models.CharField(max_length=500)
    payload = models.BinaryField(max_length=65536, help_text="The first 64 KiB of the message.")
    payload_size = models.PositiveIntegerField()

    class Meta:
        ordering = ["-received_at"]

    def __str__(self):
        return f"{self.topic}: {self.reason}"

    @property
    def payload_preview(self) -> str:
        return bytes(self.payload[:500]).decode("utf-8", errors="replace")


class IngestCounter(models.Model):
    """Operator-visible running totals (accepted, rejected by reason, dead letters, shed load)."""

    name = models.CharField(max_length=120, unique=True)
    value = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return f"{self.name} = {self.value}"


class IngestStatus(models.Model):
    """One row per ingest process: is it keeping up, or shedding load (``sensors.ingest.shedding``)?

    Written by the process on every change and as a heartbeat; the alarm console and the admin show it,
    so operators know when live positions are thinned out (readings and alarms never are)."""

    client_id = models.CharField(max_length=200, unique=True, help_text="MQTT client id of the ingest process.")
    site = models.CharField(max_length=64, blank=True, help_text="Site filter of the process ('+' for all).")
    shedding = models.BooleanField(default=False)
    shedding_since = models.DateTimeField(null=True, blank=True)
    keep_one_in = models.PositiveIntegerField(default=1, help_text="Tag sightings kept: one in this many.")
    lag_s = models.FloatField(default=0.0, help_text="How far behind the gateways ingest is, seconds.")
    backlog = models.PositiveIntegerField(default=0, help_text="Messages waiting in the process's inbox.")
    sightings_shed = models.BigIntegerField(default=0, help_text="Tag sightings shed in the current or last episode.")
    detail = models.CharField(max_length=300, blank=True)
    heartbeat_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["client_id"]
        verbose_name_plural = "ingest statuses"

    def __str__(self):
        return f"{self.client_id}: {'shedding load' if self.shedding else 'keeping up'}"


class BatchReceipt(models.Model):
    """One row per gateway batch processed, committed with its data: the unique key makes a redelivered
    batch a no-op, however many ingest processes share the subscription. Pruned after a few days.

    A row with ``lost`` set holds the place of a batch ingest counted as lost (a sequence gap no process
    had a receipt for, sensors/ingest/resend.py): one row, so several processes count it once, and a
    batch that still turns up takes the row over and takes the loss back (pipeline ``_claim``)."""

    gateway_id = models.CharField(max_length=64)
    boot = models.CharField(max_length=64)
    seq = models.BigIntegerField()
    received_at = models.DateTimeField(db_index=True)
    advertisements = models.PositiveIntegerField(default=0)
    lost = models.BooleanField(
        default=False, help_text="No batch yet: counted in the gateway's batches_lost (since received_at)."
    )

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["gateway_id", "boot", "seq"], name="batch_receipt_unique")]

    def __str__(self):
        return f"{self.gateway_id}/{self.boot}#{self.seq}"
