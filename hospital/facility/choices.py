"""Controlled vocabularies of the facility model."""

from django.db import models


class RoomType(models.TextChoices):
    PATIENT_ROOM = "patient_room", "Patient room"
    ICU_BAY = "icu_bay", "ICU bay"
    OPERATING_ROOM = "operating_room", "Operating room"
    ISOLATION_ROOM = "isolation_room", "Airborne-infection isolation room"
    PROTECTIVE_ENVIRONMENT = "protective_environment", "Protective-environment room"
    EMERGENCY_BAY = "emergency_bay", "Emergency bay"
    PHARMACY = "pharmacy", "Pharmacy"
    MEDICATION_ROOM = "medication_room", "Medication room"
    LABORATORY = "laboratory", "Laboratory"
    BLOOD_BANK = "blood_bank", "Blood bank"
    STERILE_STORAGE = "sterile_storage", "Sterile storage"
    CLEAN_UTILITY = "clean_utility", "Clean utility"
    SOILED_UTILITY = "soiled_utility", "Soiled utility"
    EQUIPMENT_STORAGE = "equipment_storage", "Equipment storage"
    CORRIDOR = "corridor", "Corridor"
    STAIRS_LIFT = "stairs_lift", "Stairs / lift"
    OFFICE = "office", "Office"
    WAITING_AREA = "waiting_area", "Waiting area"
    RECOVERY_BAY = "recovery_bay", "Recovery bay"
    IMAGING = "imaging", "Imaging"
    STAFF_ROOM = "staff_room", "Staff room"


# Rooms where equipment is used on patients; the maintenance usage rules start from this set.
PATIENT_CARE_ROOM_TYPES = frozenset(
    {
        RoomType.PATIENT_ROOM,
        RoomType.ICU_BAY,
        RoomType.OPERATING_ROOM,
        RoomType.ISOLATION_ROOM,
        RoomType.PROTECTIVE_ENVIRONMENT,
        RoomType.EMERGENCY_BAY,
        RoomType.RECOVERY_BAY,
        RoomType.IMAGING,
    }
)


class ZoneKind(models.TextChoices):
    EXIT = "exit", "Exit"
    RESTRICTED = "restricted", "Restricted area"
    STORAGE = "storage", "Storage area"
    OTHER = "other", "Other"
