"""The default usage rules (see docs/maintenance.md, "Usage from the locator"). Editable in the admin."""

from django.db import migrations

PATIENT_CARE = [
    "patient_room", "icu_bay", "operating_room", "isolation_room", "protective_environment", "emergency_bay",
    "recovery_bay", "imaging",
]
NOT_IN_USE = [
    "pharmacy", "medication_room", "laboratory", "blood_bank", "sterile_storage", "clean_utility",
    "soiled_utility", "equipment_storage", "corridor", "stairs_lift", "office", "waiting_area", "staff_room",
]
TRANSPORT = ["corridor", "stairs_lift", "waiting_area"]


def seed(apps, schema_editor):
    UsageRule = apps.get_model("maintenance", "UsageRule")
    rows = [
        UsageRule(room_type=t, mode="presence", min_dwell_minutes=10,
                  note="Equipment in a patient-care room is at the bedside: the stay counts as use. Stays "
                  "under the minimum are someone passing through with it.")
        for t in PATIENT_CARE
    ]
    rows += [
        UsageRule(room_type=t, mode="ignore", min_dwell_minutes=0,
                  note="Stored, cleaned, waiting or being carried: not in use on a patient.")
        for t in NOT_IN_USE
    ]
    rows += [
        UsageRule(room_type=t, asset_category="mobility", mode="motion", min_dwell_minutes=0,
                  note="A wheelchair, stretcher or bed that moves here is carrying a patient: its moving time "
                  "counts as use.")
        for t in TRANSPORT
    ]
    existing = set(UsageRule.objects.values_list("room_type", "asset_category"))
    UsageRule.objects.bulk_create([r for r in rows if (r.room_type, r.asset_category) not in existing])


class Migration(migrations.Migration):
    dependencies = [("maintenance", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
