"""The canonical measurement vocabulary every BLE decoder reports in.

Each decoder translates its format's fields into these names and units, so downstream code (readings,
alarm rules, the locator) never has to know which format a value came from. Units are SI-style and
are part of the name where one could doubt them (``_c``, ``_pa``, ``_v``...). Boolean states are
reported as the integers 0/1.

Values a format marks "not available" (for example Ruuvi temperature ``0x8000``) are left out of the
measurements dict; they are never reported as numbers.

A BTHome device may carry the same kind of object more than once (two temperature probes): the first
keeps the plain name, the next ones get ``_2``, ``_3``... (``temperature_c_2``).
"""

from __future__ import annotations

from typing import NamedTuple


class Term(NamedTuple):
    unit: str
    description: str


VOCABULARY: dict[str, Term] = {
    # Environment
    "temperature_c": Term("°C", "Air or probe temperature"),
    "humidity_pct": Term("%RH", "Relative humidity"),
    "pressure_pa": Term("Pa", "Absolute (barometric) pressure"),
    "differential_pressure_pa": Term("Pa", "Room pressure relative to the reference space (ASHRAE 170)"),
    "dewpoint_c": Term("°C", "Dew point"),
    "co2_ppm": Term("ppm", "Carbon dioxide concentration"),
    "pm1_ugm3": Term("µg/m³", "Particulate matter < 1.0 µm"),
    "pm25_ugm3": Term("µg/m³", "Particulate matter < 2.5 µm"),
    "pm4_ugm3": Term("µg/m³", "Particulate matter < 4.0 µm"),
    "pm10_ugm3": Term("µg/m³", "Particulate matter < 10 µm"),
    "tvoc_ugm3": Term("µg/m³", "Total volatile organic compounds (mass concentration)"),
    "voc_index": Term("index", "Sensirion VOC index, 1..500, 100 = the learned average"),
    "nox_index": Term("index", "Sensirion NOx index, 1..500, 1 = the learned baseline"),
    "illuminance_lx": Term("lx", "Illuminance"),
    "noise_dba": Term("dB(A)", "A-weighted sound level"),
    "moisture_pct": Term("%", "Moisture (soil/material)"),
    "uv_index": Term("index", "UV index"),
    "calibration_in_progress": Term("0/1", "1 while an air-quality sensor is still calibrating"),
    # Motion and state
    "acceleration_g": Term("g", "Magnitude of the acceleration vector"),
    "acceleration_x_g": Term("g", "Acceleration along X"),
    "acceleration_y_g": Term("g", "Acceleration along Y"),
    "acceleration_z_g": Term("g", "Acceleration along Z"),
    "movement_counter": Term("count", "Wrapping counter of movement detections (Ruuvi: 8 bit)"),
    "moving": Term("0/1", "1 while the device is moving"),
    "motion": Term("0/1", "1 when motion was detected around the device (PIR)"),
    "occupancy": Term("0/1", "1 when the space is occupied"),
    "door_open": Term("0/1", "1 when the door/lid contact is open (fridge door, room door)"),
    "window_open": Term("0/1", "1 when the window contact is open"),
    "button_event": Term("code", "BTHome button event: 1 press, 2 double, 3 triple, 4 long, 128 hold"),
    "count": Term("count", "Generic counter"),
    # Power
    "battery_v": Term("V", "Battery voltage"),
    "battery_pct": Term("%", "Battery level"),
    "battery_low": Term("0/1", "1 when the device reports a low battery"),
    "voltage_v": Term("V", "Measured voltage (not the device's own battery)"),
    "current_a": Term("A", "Electric current"),
    "power_w": Term("W", "Electric power"),
    "energy_kwh": Term("kWh", "Electric energy"),
    # Radio and device bookkeeping
    "tx_power_dbm": Term(
        "dBm",
        "Transmit power as the format defines it (Ruuvi: radio output power; "
        "Eddystone: calibrated power at 0 m)",
    ),
    "rssi_1m_dbm": Term(
        "dBm",
        "Expected RSSI at 1 m, the reference for distance estimation (iBeacon "
        "measured power; Eddystone: tx power at 0 m minus 41 dB)",
    ),
    "measurement_sequence": Term("count", "Sensor's measurement counter (de-duplicates re-sent samples)"),
    "packet_id": Term("count", "BTHome packet id (8 bit, same id = same data)"),
    "encryption_counter": Term("count", "BTHome AES-CCM counter (replay protection)"),
    "uptime_s": Term("s", "Time since power-on or reboot"),
    "adv_count": Term("count", "Advertisements sent since power-on or reboot (Eddystone TLM)"),
}

#: Identity keys a decoder may set (``Decoded.identity``), with what they mean.
IDENTITY_KEYS: dict[str, str] = {
    "mac": "The advertiser's address as the gateway heard it, upper case (AA:BB:CC:DD:EE:FF)",
    "tag_id": "Canonical tag key from tag_id_for(): ibeacon:..., eddystone:... or mac:...",
    "ibeacon_uuid": "iBeacon proximity UUID, lower case 8-4-4-4-12",
    "ibeacon_major": "iBeacon major (0..65535)",
    "ibeacon_minor": "iBeacon minor (0..65535)",
    "eddystone_namespace": "Eddystone-UID namespace, 20 lower-case hex digits",
    "eddystone_instance": "Eddystone-UID instance, 12 lower-case hex digits",
    "eddystone_url": "Eddystone-URL, expanded",
    "eddystone_eid": "Eddystone-EID ephemeral id, 16 lower-case hex digits (rotates; not a stable key)",
    "payload_mac": "MAC address carried inside the payload (Ruuvi 5/E1, BTHome with MAC flag)",
}
