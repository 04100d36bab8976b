"""Audit of monitoring configuration changed outside the override form (the sensors admin, the API,
an import): a sensor's profile slug, report interval or calibration due date. The form itself records
who and why (``services.save_override``); here the change is recorded without a known person."""

from __future__ import annotations

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver

from sensors.models import Sensor

WATCHED = ("profile", "report_interval_s", "calibration_due_on", "room_id", "asset_id")


@receiver(pre_save, sender=Sensor, dispatch_uid="environment.sensor_pre_save")
def remember_monitoring_config(sender, instance, raw=False, update_fields=None, **kwargs):
    if raw or instance.pk is None:
        return
    if update_fields is not None and not ({"profile", "report_interval_s", "calibration_due_on", "room", "asset"}
                                          & set(update_fields)):
        return
    old = Sensor.objects.filter(pk=instance.pk).select_related("room", "asset__asset_type").first()
    if old is not None:
        from .profiles import profile_config

        instance._monitoring_before = (tuple(getattr(old, f) for f in WATCHED), profile_config(old))


@receiver(post_save, sender=Sensor, dispatch_uid="environment.sensor_post_save")
def audit_monitoring_config(sender, instance, created=False, raw=False, **kwargs):
    before = getattr(instance, "_monitoring_before", None)
    if raw or created or before is None:
        return
    del instance._monitoring_before
    if tuple(getattr(instance, f) for f in WATCHED) == before[0]:
        return
    from .models import ProfileChange
    from .profiles import profile_config
    from .services import describe_change

    after = profile_config(instance)
    if after == before[1]:
        return
    ProfileChange.objects.create(
        sensor=instance, sensor_label=instance.sensor_id, reason="Changed on the sensor record (admin, API or import)",
        summary=describe_change(before[1], after)[:1000], before=before[1], after=after,
    )
