"""The four roles as Django groups, and what each may do.

Roles are data kept in code so every install has the same groups; ``sync_roles`` makes the database
match (idempotent, runs after every migrate). Later features add their permissions here.
"""

from django.contrib.auth.models import Group, Permission

NURSE = "nurse"
ENGINEER = "biomedical engineer"
FACILITY_MANAGER = "facility manager"
ADMINISTRATOR = "administrator"
ROLES = (NURSE, ENGINEER, FACILITY_MANAGER, ADMINISTRATOR)


def _view(*models):
    return {f"{app}.view_{model}" for app, model in (m.split(".") for m in models)}


def _manage(*models):
    return {
        f"{app}.{action}_{model}"
        for app, model in (m.split(".") for m in models)
        for action in ("view", "add", "change", "delete")
    }


_ENV_VIEW = (
    "environment.alarm", "environment.alarmevent", "environment.alarmaction", "environment.alarmflood",
    "environment.excursion", "environment.temperaturelogreview", "environment.profilechange",
    "environment.minuteaggregate", "environment.dailyaggregate", "environment.notification",
)
_FACILITY = ("facility.site", "facility.building", "facility.floor", "facility.department", "facility.room", "facility.zone")

_MAINTENANCE_MANAGE = (
    "maintenance.maintenanceplan", "maintenance.workorder", "maintenance.workorderpart", "maintenance.safetynotice",
    "maintenance.usagerule", "maintenance.dailyusage",
)
_MAINTENANCE_COMPUTED = (
    "maintenance.workorderevent", "maintenance.usageperiod", "maintenance.forecast", "maintenance.forecastrun",
    "maintenance.failuremodel",
)

ROLE_PERMISSIONS: dict[str, set[str]] = {
    # Nurses find equipment and flag its state (needs cleaning, in use); they do not edit inventory.
    NURSE: _view(*_FACILITY, "assets.assettype", "assets.asset", "locator.tag") | {"assets.change_asset_status"}
    # Environment: nurses see the alarm console and comment ("door was left open"); they do not acknowledge.
    | _view("environment.alarm", "environment.alarmevent", "environment.alarmaction") | {"environment.comment_alarm"},
    # Biomedical engineers own the equipment inventory and its tags.
    ENGINEER: _view(*_FACILITY, "sensors.gateway", "sensors.sensor", "sensors.reading", "locator.zoneevent")
    | _manage("assets.assettype", "assets.asset", "locator.tag")
    | {"assets.change_asset_status"}
    # Environment: engineers see alarms and excursions, comment, and take a sensor out of service to repair
    # or calibrate it.
    | _view(*_ENV_VIEW) | {"environment.comment_alarm", "environment.suppress_alarm"}
    # Maintenance: engineers own plans, work orders (complete them), safety notices, usage rules and usage
    # imports; forecasts, usage periods and the work-order audit log are computed, so they only see them.
    | _manage(*_MAINTENANCE_MANAGE) | _view(*_MAINTENANCE_COMPUTED)
    | {"maintenance.complete_workorder", "maintenance.view_maintenance_report"},
    # Facility managers own the environment: gateways, sensors and their monitoring.
    FACILITY_MANAGER: _view(*_FACILITY, "assets.assettype", "assets.asset", "locator.tag")
    | _manage("sensors.gateway", "sensors.sensor")
    | _view("sensors.reading", "sensors.deadletter", "sensors.discovereddevice", "sensors.ingestcounter",
            "sensors.ingeststatus", "locator.zoneevent")
    | {"assets.change_asset_status"}
    # Environment: facility managers own alarms (acknowledge, shelve, suppress), profile overrides, the daily
    # temperature-log review, corrective actions and the notification set-up.
    | _view(*_ENV_VIEW, "environment.sensorprofileoverride", "environment.deliveryattempt")
    | _manage("environment.webhookendpoint", "environment.escalationpolicy", "environment.escalationstep")
    | {"environment.acknowledge_alarm", "environment.shelve_alarm", "environment.comment_alarm",
       "environment.suppress_alarm", "environment.override_profile", "environment.add_temperaturelogreview",
       "environment.record_corrective_action", "environment.change_excursion"}
    # Maintenance: facility managers read the department's maintenance report (PM completion, MTBF, uptime).
    | {"maintenance.view_maintenance_report"},
}


def permissions_for(role: str) -> set[str]:
    if role == ADMINISTRATOR:
        return {f"{p.content_type.app_label}.{p.codename}" for p in Permission.objects.select_related("content_type")}
    return ROLE_PERMISSIONS[role]


def sync_roles() -> dict[str, int]:
    """Create the groups and set exactly their permissions. Returns permissions per role."""
    counts = {}
    by_name = {
        f"{p.content_type.app_label}.{p.codename}": p for p in Permission.objects.select_related("content_type")
    }
    for role in ROLES:
        wanted = permissions_for(role)
        missing = wanted - by_name.keys()
        if missing:
            raise LookupError(f"role {role!r} names unknown permissions: {sorted(missing)}")
        group, _ = Group.objects.get_or_create(name=role)
        group.permissions.set([by_name[name] for name in wanted])
        counts[role] = len(wanted)
    return counts


def sync_roles_after_migrate(sender, app_config=None, **kwargs):
    # Only once, after the last app has migrated, when every permission exists.
    if app_config is not None and app_config.name == "locator":
        try:
            sync_roles()
        except LookupError:
            pass  # a partial migrate (e.g. `migrate app 0001`): permissions not all there yet
