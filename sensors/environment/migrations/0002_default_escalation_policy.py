"""A default escalation policy, so alarms reach someone out of the box (edit it in the admin):
medium and high alarms e-mail the facility managers at once, and the administrators when still
unacknowledged after 15 minutes."""

from django.db import migrations


def create(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Policy = apps.get_model("environment", "EscalationPolicy")
    Step = apps.get_model("environment", "EscalationStep")
    if Policy.objects.exists():
        return
    managers, _ = Group.objects.get_or_create(name="facility manager")
    admins, _ = Group.objects.get_or_create(name="administrator")
    policy = Policy.objects.create(name="Default: facility managers, then administrators", min_priority="medium")
    Step.objects.create(policy=policy, level=0, after_minutes=0, group=managers)
    Step.objects.create(policy=policy, level=1, after_minutes=15, group=admins)


def remove(apps, schema_editor):
    apps.get_model("environment", "EscalationPolicy").objects.filter(
        name="Default: facility managers, then administrators").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("environment", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create, remove)]
