"""Equipment the demo hospital owns: asset types, real makes and models, how many, whose.

Makes and models are real products so the demo looks like a real inventory; serial numbers, UDIs
and asset numbers made from them are fake. Maintenance intervals are illustrative defaults (a real
programme takes them from each manufacturer's service manual and its own risk assessment).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Model:
    manufacturer: str
    model: str
    serial: str  # pattern: '#' digit, '@' capital letter, anything else literal
    weight: int = 1


@dataclass(frozen=True)
class TypeSpec:
    code: str
    name: str
    category: str
    risk_class: str
    prefix: str  # asset-number prefix
    pm_interval_days: int | None
    pm_interval_hours: int | None
    calibration_interval_days: int | None
    is_mobile: bool
    count: int  # mobile types only; fixed units are placed one by one in COLD_STORAGE
    models: tuple[Model, ...]
    homes: tuple[tuple[str, int], ...] = ()  # (department code, weight)


BD = "BD"
GE = "GE HealthCare"
PHILIPS = "Philips"
HELMER = "Helmer Scientific"
THERMO = "Thermo Fisher Scientific"
PHCBI = "PHCbi"

TYPES: tuple[TypeSpec, ...] = (
    TypeSpec(
        "infusion-pump",
        "Infusion pump (large-volume)",
        "infusion",
        "high",
        "INF",
        365,
        6000,
        None,
        True,
        95,
        (
            Model(BD, "Alaris 8100 LVP module", "########", 5),
            Model("Baxter", "Sigma Spectrum", "#######", 3),
            Model("B. Braun", "Infusomat Space", "#######", 2),
        ),
        (("icu", 30), ("ed", 20), ("medical-ward", 20), ("surgical-ward", 20), ("theatres", 10)),
    ),
    TypeSpec(
        "syringe-pump",
        "Syringe pump",
        "infusion",
        "high",
        "SYR",
        365,
        6000,
        None,
        True,
        55,
        (
            Model("B. Braun", "Perfusor Space", "#######", 6),
            Model(BD, "Alaris 8110 syringe module", "########", 2),
            Model("Fresenius Kabi", "Agilia SP", "AG########", 2),
        ),
        (("icu", 40), ("theatres", 25), ("ed", 15), ("surgical-ward", 10), ("medical-ward", 10)),
    ),
    TypeSpec(
        "patient-monitor",
        "Patient monitor",
        "monitoring",
        "high",
        "MON",
        365,
        None,
        None,
        True,
        50,
        (
            Model(PHILIPS, "IntelliVue MX450", "DE########", 4),
            Model(GE, "CARESCAPE B450", "SH#######@@", 3),
            Model(PHILIPS, "IntelliVue MX750", "DE########", 2),
        ),
        (("icu", 35), ("theatres", 25), ("ed", 25), ("surgical-ward", 15)),
    ),
    TypeSpec(
        "vital-signs-monitor",
        "Vital signs monitor",
        "monitoring",
        "medium",
        "VSM",
        365,
        None,
        365,
        True,
        36,
        (
            Model("Welch Allyn", "Connex Vital Signs Monitor 6000", "10########", 3),
            Model(PHILIPS, "EarlyVue VS30", "US########", 1),
        ),
        (("medical-ward", 35), ("surgical-ward", 35), ("ed", 30)),
    ),
    TypeSpec(
        "ventilator",
        "Ventilator (critical care)",
        "respiratory",
        "high",
        "VEN",
        365,
        5000,
        None,
        True,
        18,
        (
            Model("Hamilton Medical", "HAMILTON-C6", "#####", 4),
            Model("Dräger", "Evita V500", "@@@@-####", 3),
            Model("Hamilton Medical", "HAMILTON-T1", "#####", 1),
        ),
        (("icu", 70), ("ed", 15), ("theatres", 15)),
    ),
    TypeSpec(
        "defibrillator",
        "Defibrillator / monitor",
        "resuscitation",
        "high",
        "DEF",
        180,
        None,
        None,
        True,
        16,
        (
            Model("ZOLL Medical", "R Series ALS", "AF########", 1),
            Model(PHILIPS, "HeartStart MRx", "US########", 1),
        ),
        (("ed", 4), ("icu", 3), ("theatres", 3), ("medical-ward", 3), ("surgical-ward", 3)),
    ),
    TypeSpec(
        "hospital-bed",
        "Hospital bed (powered)",
        "mobility",
        "medium",
        "BED",
        365,
        None,
        None,
        True,
        60,
        (
            Model("Hill-Rom", "Progressa", "K###@####", 3),
            Model("Stryker", "ProCuity", "##########", 3),
            Model("Stryker", "InTouch Critical Care Bed", "##########", 1),
        ),
        (("medical-ward", 35), ("surgical-ward", 35), ("icu", 20), ("ed", 10)),
    ),
    TypeSpec(
        "wheelchair",
        "Wheelchair",
        "mobility",
        "low",
        "WCH",
        365,
        None,
        None,
        True,
        30,
        (Model("Invacare", "Action3 NG", "##@######", 2), Model("Invacare", "Action2 NG", "##@######", 1)),
        (("ed", 40), ("medical-ward", 30), ("surgical-ward", 30)),
    ),
    TypeSpec(
        "ultrasound",
        "Point-of-care ultrasound",
        "imaging",
        "medium",
        "USG",
        365,
        None,
        None,
        True,
        8,
        (Model(GE, "Venue Go", "######WX#", 1), Model(PHILIPS, "Lumify", "US########", 1)),
        (("ed", 40), ("icu", 30), ("radiology", 30)),
    ),
    TypeSpec(
        "ecg-cart",
        "ECG cart (12-lead)",
        "diagnostic",
        "medium",
        "ECG",
        365,
        None,
        365,
        True,
        8,
        (Model(GE, "MAC 2000", "SCD########", 1), Model(PHILIPS, "PageWriter TC35", "US########", 1)),
        (("ed", 50), ("medical-ward", 25), ("surgical-ward", 25)),
    ),
    TypeSpec(
        "pulse-oximeter",
        "Pulse CO-oximeter",
        "monitoring",
        "medium",
        "OXI",
        365,
        None,
        None,
        True,
        20,
        (Model("Masimo", "Radical-7", "#########", 1),),
        (("icu", 30), ("ed", 30), ("medical-ward", 20), ("surgical-ward", 20)),
    ),
    TypeSpec(
        "high-flow-therapy",
        "High-flow nasal therapy system",
        "respiratory",
        "medium",
        "HFT",
        365,
        4000,
        None,
        True,
        15,
        (Model("Fisher & Paykel Healthcare", "Airvo 2", "##########", 1),),
        (("icu", 30), ("medical-ward", 40), ("ed", 30)),
    ),
    TypeSpec(
        "compression-system",
        "Sequential compression system",
        "therapy",
        "low",
        "SCD",
        365,
        4000,
        None,
        True,
        20,
        (Model("Cardinal Health", "Kendall SCD 700", "#########", 1),),
        (("surgical-ward", 50), ("icu", 25), ("theatres", 25)),
    ),
    TypeSpec(
        "breast-pump",
        "Breast pump (hospital grade)",
        "therapy",
        "low",
        "BRP",
        365,
        None,
        None,
        True,
        6,
        (Model("Medela", "Symphony", "PS#######", 1),),
        (("surgical-ward", 50), ("medical-ward", 50)),
    ),
    TypeSpec(
        "stretcher",
        "Stretcher",
        "mobility",
        "low",
        "STR",
        365,
        None,
        None,
        True,
        12,
        (Model("Stryker", "Prime X stretcher", "##########", 1),),
        (("ed", 70), ("theatres", 30)),
    ),
    TypeSpec(
        "bladder-scanner",
        "Bladder scanner",
        "diagnostic",
        "low",
        "BLS",
        365,
        None,
        365,
        True,
        5,
        (Model("Verathon", "BladderScan Prime PLUS", "##########", 1),),
        (("medical-ward", 50), ("surgical-ward", 50)),
    ),
    # Fixed cold storage: placed unit by unit (COLD_STORAGE below).
    TypeSpec(
        "vaccine-refrigerator",
        "Vaccine refrigerator (2-8 °C)",
        "cold_storage",
        "medium",
        "VRF",
        365,
        None,
        365,
        False,
        0,
        (
            Model(HELMER, "i.Series iPR120", "#######"),
            Model(THERMO, "TSX Series TSX505PA", "##########"),
            Model(PHCBI, "MPR-S500RH-PA", "########"),
        ),
    ),
    TypeSpec(
        "vaccine-freezer",
        "Vaccine freezer (-50 to -15 °C)",
        "cold_storage",
        "medium",
        "VFZ",
        365,
        None,
        365,
        False,
        0,
        (Model(THERMO, "TSX Series TSX2320FA", "##########"),),
    ),
    TypeSpec(
        "pharmacy-refrigerator",
        "Pharmacy refrigerator (2-8 °C)",
        "cold_storage",
        "medium",
        "PRF",
        365,
        None,
        365,
        False,
        0,
        (
            Model(THERMO, "TSX Series TSX2305PA", "##########"),
            Model(HELMER, "Horizon Series HPR256", "#######"),
        ),
    ),
    TypeSpec(
        "blood-bank-refrigerator",
        "Blood bank refrigerator (1-6 °C)",
        "cold_storage",
        "high",
        "BBR",
        365,
        None,
        180,
        False,
        0,
        (Model(HELMER, "i.Series iB125", "#######"), Model(HELMER, "i.Series iB111", "#######")),
    ),
    TypeSpec(
        "plasma-freezer",
        "Plasma freezer (-30 °C)",
        "cold_storage",
        "high",
        "PFZ",
        365,
        None,
        180,
        False,
        0,
        (Model(HELMER, "i.Series iPF125", "#######"),),
    ),
    TypeSpec(
        "platelet-incubator",
        "Platelet incubator with agitator (20-24 °C)",
        "cold_storage",
        "high",
        "PLT",
        365,
        None,
        180,
        False,
        0,
        (Model(HELMER, "PC900i incubator with PF96i agitator", "#######"),),
    ),
    TypeSpec(
        "ultra-low-freezer",
        "Ultra-low temperature freezer (-80 °C)",
        "cold_storage",
        "medium",
        "ULT",
        365,
        None,
        365,
        False,
        0,
        (
            Model(THERMO, "TSX Series TSX60086A", "##########"),
            Model(PHCBI, "VIP ECO MDF-DU502VH", "########"),
        ),
    ),
)

# Fixed cold-storage units: (asset type, room number, monitoring profile, sensor format, encrypted).
# Ultra-low freezers carry a BTHome probe sensor (a RuuviTag's range ends at -40 °C).
COLD_STORAGE: tuple[tuple[str, str, str, str, bool], ...] = (
    ("vaccine-refrigerator", "1E-01", "vaccine_fridge", "ruuvi_v5", False),
    ("vaccine-refrigerator", "1E-03", "vaccine_fridge", "bthome_v2", True),
    ("vaccine-freezer", "1E-03", "vaccine_freezer", "bthome_v2", True),
    ("pharmacy-refrigerator", "1E-01", "pharmacy_fridge", "ruuvi_v5", False),
    ("pharmacy-refrigerator", "1E-03", "pharmacy_fridge", "ruuvi_v5", False),
    ("pharmacy-refrigerator", "1E-05", "pharmacy_fridge", "bthome_v2", False),
    ("vaccine-refrigerator", "1W-10", "vaccine_fridge", "ruuvi_v5", False),
    ("blood-bank-refrigerator", "1E-07", "blood_fridge", "bthome_v2", True),
    ("blood-bank-refrigerator", "1E-07", "blood_fridge", "bthome_v2", True),
    ("blood-bank-refrigerator", "1E-09", "blood_fridge", "bthome_v2", True),
    ("plasma-freezer", "1E-07", "plasma_freezer", "bthome_v2", True),
    ("plasma-freezer", "1E-07", "plasma_freezer", "ruuvi_v5", False),
    ("platelet-incubator", "1E-07", "platelet_incubator", "ruuvi_v5", False),
    ("ultra-low-freezer", "1E-02", "ultra_cold_freezer", "bthome_v2", False),
    ("ultra-low-freezer", "1E-02", "ultra_cold_freezer", "bthome_v2", True),
    ("ultra-low-freezer", "1E-04", "ultra_cold_freezer", "bthome_v2", False),
    ("ultra-low-freezer", "1E-04", "ultra_cold_freezer", "bthome_v2", False),
    ("blood-bank-refrigerator", "2C-01", "blood_fridge", "ruuvi_v5", False),
    ("pharmacy-refrigerator", "2W-09", "pharmacy_fridge", "ruuvi_v5", False),
    ("vaccine-refrigerator", "2E-13", "vaccine_fridge", "ruuvi_v5", False),
    ("vaccine-refrigerator", "3W-13", "vaccine_fridge", "ruuvi_v5", False),
    ("vaccine-refrigerator", "3E-13", "vaccine_fridge", "bthome_v2", False),
)

# What each format reports (RuuviTag data format 5 has no door contact or differential pressure;
# the BTHome v2 devices are multi-sensors with a door contact or a room-pressure transducer).
RUUVI = ("temperature_c", "humidity_pct", "pressure_pa", "battery_v")
BTHOME_PROBE = ("temperature_c", "door_open", "battery_pct")
BTHOME_PRESSURE = ("temperature_c", "humidity_pct", "differential_pressure_pa", "door_open", "battery_pct")
BTHOME_AIR = ("temperature_c", "humidity_pct", "co2_ppm", "pm25_ugm3", "battery_pct")
COLD_QUANTITIES = {"ruuvi_v5": RUUVI, "bthome_v2": BTHOME_PROBE}

# Room sensors: (room type, profile, format, quantities): every room of that type, or, for a type
# with a trailing "*", a few rooms of that type (chosen in generate.py).
ROOM_SENSORS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("operating_room", "operating_room", "bthome_v2", BTHOME_PRESSURE),
    ("isolation_room", "isolation_room_negative", "bthome_v2", BTHOME_PRESSURE),
    ("protective_environment", "protective_environment_positive", "bthome_v2", BTHOME_PRESSURE),
    ("pharmacy", "pharmacy_crt", "ruuvi_v5", RUUVI),
    ("sterile_storage", "sterile_storage", "ruuvi_v5", RUUVI),
    ("waiting_area", "waiting_area", "bthome_v2", BTHOME_AIR),
    ("icu_bay*", "critical_care", "ruuvi_v5", RUUVI),
    ("patient_room*", "patient_room", "ruuvi_v5", RUUVI),
)
SAMPLED_ROOMS = {"icu_bay*": 2, "patient_room*": 4}
# Fake GS1 company prefixes for the demo UDIs (syntactically valid, not anyone's real prefix).
FAKE_GS1_PREFIX_BASE = 8_000_000
