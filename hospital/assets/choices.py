"""Controlled vocabularies of the asset model."""

from django.db import models


class AssetCategory(models.TextChoices):
    INFUSION = "infusion", "Infusion"
    MONITORING = "monitoring", "Patient monitoring"
    RESPIRATORY = "respiratory", "Respiratory support"
    RESUSCITATION = "resuscitation", "Resuscitation"
    IMAGING = "imaging", "Imaging"
    MOBILITY = "mobility", "Beds and mobility"
    THERAPY = "therapy", "Therapy"
    DIAGNOSTIC = "diagnostic", "Diagnostic"
    COLD_STORAGE = "cold_storage", "Cold storage"
    SURGICAL = "surgical", "Surgical"


class RiskClass(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class AssetStatus(models.TextChoices):
    AVAILABLE = "available", "Available"
    IN_USE = "in_use", "In use"
    NEEDS_CLEANING = "needs_cleaning", "Needs cleaning"
    IN_MAINTENANCE = "in_maintenance", "In maintenance"
    OUT_OF_SERVICE = "out_of_service", "Out of service"
    MISSING = "missing", "Missing"
