"""Keep ``policy``'s cached answers true: drop them when a device or a user's groups change; fill them at
login so the first page after it costs no extra query."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in
from django.db.models.signals import m2m_changed, post_delete, post_save
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from . import policy


def device_changed(sender, instance, **kwargs):
    policy.forget(instance.user_id)


def groups_changed(sender, instance, action, reverse, pk_set, **kwargs):
    if isinstance(instance, get_user_model()):
        if action.startswith("post_"):
            policy.forget(instance.pk)
    elif action in ("post_add", "post_remove"):  # group.user_set.add(...): the users are in pk_set
        for pk in pk_set:
            policy.forget(pk)
    elif action == "pre_clear":  # group.user_set.clear(): name the users while they are still there
        for pk in instance.user_set.values_list("pk", flat=True):
            policy.forget(pk)


def logged_in(sender, request, user, **kwargs):
    policy.refresh(user)


def connect():
    for model in (TOTPDevice, StaticDevice):
        post_save.connect(device_changed, sender=model, dispatch_uid=f"twofactor.saved.{model.__name__}")
        post_delete.connect(device_changed, sender=model, dispatch_uid=f"twofactor.deleted.{model.__name__}")
    m2m_changed.connect(groups_changed, sender=get_user_model().groups.through, dispatch_uid="twofactor.groups")
    user_logged_in.connect(logged_in, dispatch_uid="twofactor.logged_in")
