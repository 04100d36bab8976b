"""Asset types and assets."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Concat, Upper

from hospital.facility.models import Department, Room, TimeStamped

from .choices import AssetCategory, AssetStatus, RiskClass


class AssetType(TimeStamped):
    code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=AssetCategory.choices)
    risk_class = models.CharField(max_length=8, choices=RiskClass.choices)
    pm_interval_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Default preventive-maintenance calendar interval."
    )
    pm_interval_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Default preventive-maintenance usage interval (run hours)."
    )
    calibration_interval_days = models.PositiveIntegerField(null=True, blank=True)
    is_mobile = models.BooleanField(default=True, help_text="Moves between rooms (pumps) or fixed (fridges).")
    search_text = models.GeneratedField(  # what the equipment search matches (locator.search), kept by the database
        expression=Upper(Concat("name", models.Value(" "), "code", output_field=models.TextField())),
        output_field=models.TextField(), db_persist=True,
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Asset(TimeStamped):
    asset_number = models.CharField(max_length=32, unique=True, help_text="Hospital inventory number.")
    asset_type = models.ForeignKey(AssetType, on_delete=models.PROTECT, related_name="assets")
    manufacturer = models.CharField(max_length=120)
    model = models.CharField(max_length=120)
    serial_number = models.CharField(max_length=64)
    udi = models.CharField("UDI", max_length=120, blank=True, help_text="Unique Device Identifier (GS1/HIBCC).")
    home_department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="assets"
    )
    installed_room = models.ForeignKey(
        Room, on_delete=models.SET_NULL, null=True, blank=True, related_name="installed_assets",
        help_text="Fixed equipment (fridges, freezers): the room it is installed in. Mobile equipment is "
        "located by its tag instead.",
    )
    status = models.CharField(max_length=16, choices=AssetStatus.choices, default=AssetStatus.AVAILABLE)
    commissioned_on = models.DateField(null=True, blank=True)
    notes = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, editable=False, related_name="+"
    )
    search_text = models.GeneratedField(  # what the equipment search matches (locator.search), kept by the database
        expression=Upper(Concat("asset_number", models.Value(" "), "manufacturer", models.Value(" "), "model",
                                output_field=models.TextField())),
        output_field=models.TextField(), db_persist=True,
    )

    class Meta:
        ordering = ["asset_number"]
        constraints = [
            models.UniqueConstraint(fields=["manufacturer", "serial_number"], name="asset_serial_unique_per_maker")
        ]
        indexes = [models.Index(fields=["status"]), models.Index(fields=["asset_type", "status"])]
        permissions = [("change_asset_status", "Can change the status of an asset (in use, needs cleaning...)")]

    def __str__(self):
        return f"{self.asset_number} {self.asset_type.name}"
