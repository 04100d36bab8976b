"""Controlled vocabularies of the sensors app."""

from django.db import models


class GatewayStatus(models.TextChoices):
    UNKNOWN = "unknown", "Never heard"
    ONLINE = "online", "Online"
    OFFLINE = "offline", "Offline"


class BleFormat(models.TextChoices):
    RUUVI_V5 = "ruuvi_v5", "RuuviTag data format 5"
    RUUVI_V3 = "ruuvi_v3", "RuuviTag data format 3"
    BTHOME_V2 = "bthome_v2", "BTHome v2"
    IBEACON = "ibeacon", "iBeacon"
    EDDYSTONE = "eddystone", "Eddystone"


class Quantity(models.TextChoices):
    """Canonical measurement names (with SI-style units) shared with the BLE decoders."""

    TEMPERATURE_C = "temperature_c", "Temperature (°C)"
    HUMIDITY_PCT = "humidity_pct", "Relative humidity (%)"
    DIFF_PRESSURE_PA = "differential_pressure_pa", "Differential pressure (Pa)"
    PRESSURE_PA = "pressure_pa", "Air pressure (Pa)"
    CO2_PPM = "co2_ppm", "CO₂ (ppm)"
    PM25_UGM3 = "pm25_ugm3", "PM2.5 (µg/m³)"
    VOC_INDEX = "voc_index", "VOC index"
    NOISE_DBA = "noise_dba", "Noise level (dBA)"
    ILLUMINANCE_LX = "illuminance_lx", "Illuminance (lx)"
    DOOR_OPEN = "door_open", "Door open (0/1)"
    BATTERY_PCT = "battery_pct", "Battery (%)"
    BATTERY_V = "battery_v", "Battery (V)"


class SensorPlacement(models.TextChoices):
    ROOM = "room", "Room"
    EQUIPMENT = "equipment", "Equipment (fridge, freezer, incubator)"
