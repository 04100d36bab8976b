"""Every model is usable in the admin: list columns, filters, search, and the pages load."""

import pytest
from django.apps import apps
from django.contrib import admin

from hospital import roles

OUR_APPS = {"facility", "assets", "sensors", "locator", "hospital", "environment", "maintenance"}


def our_models():
    return [m for m in apps.get_models() if m._meta.app_label in OUR_APPS]


@pytest.mark.parametrize("model", our_models(), ids=lambda m: m._meta.label)
def test_model_is_registered_with_columns_filters_and_search(model):
    assert admin.site.is_registered(model), f"{model._meta.label} is not in the admin"
    model_admin = admin.site._registry[model]
    assert len(model_admin.list_display) >= 3
    assert model_admin.search_fields
    assert model_admin.list_filter or model._meta.label in {"facility.Site"}


@pytest.mark.parametrize("model", our_models(), ids=lambda m: m._meta.label)
def test_changelist_and_add_pages_load_for_an_administrator(model, make_user, client):
    client.force_login(make_user(roles.ADMINISTRATOR))
    opts = model._meta
    changelist = client.get(f"/admin/{opts.app_label}/{opts.model_name}/?q=x")
    assert changelist.status_code == 200
    add = client.get(f"/admin/{opts.app_label}/{opts.model_name}/add/")
    assert add.status_code in (200, 403)  # 403 where adding by hand is disabled on purpose


@pytest.mark.parametrize("model", our_models(), ids=lambda m: m._meta.label)
def test_audit_timestamps_are_read_only(model, make_user, rf):
    model_admin = admin.site._registry[model]
    request = rf.get("/admin/")
    request.user = make_user(roles.ADMINISTRATOR)
    request.user.is_superuser = True
    readonly = set(model_admin.get_readonly_fields(request))
    fields = {f.name for f in model._meta.get_fields()}
    for audit in {"created_at", "updated_at", "updated_by"} & fields:
        assert (audit in readonly or not model._meta.get_field(audit).editable
                or not model_admin.has_change_permission(request))
