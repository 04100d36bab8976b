"""Permission classes of the API.

``ModelPermissions`` is Django's model permissions for every method, reads included: a GET needs
``view_<model>``, so a role sees through the API exactly what it sees in the pages and the admin.
``HasPermission`` names one permission for an action that is not a plain create/update/delete, such
as ``assets.change_asset_status``.
"""

from rest_framework.permissions import BasePermission, DjangoModelPermissions


class ModelPermissions(DjangoModelPermissions):
    perms_map = {
        "GET": ["%(app_label)s.view_%(model_name)s"],
        "OPTIONS": ["%(app_label)s.view_%(model_name)s"],
        "HEAD": ["%(app_label)s.view_%(model_name)s"],
        "POST": ["%(app_label)s.add_%(model_name)s"],
        "PUT": ["%(app_label)s.change_%(model_name)s"],
        "PATCH": ["%(app_label)s.change_%(model_name)s"],
        "DELETE": ["%(app_label)s.delete_%(model_name)s"],
    }


class HasPermission(BasePermission):
    """Authenticated and holding every one of ``perms`` (set by ``HasPermission.of(...)``)."""

    perms: tuple[str, ...] = ()

    @classmethod
    def of(cls, *perms: str) -> type["HasPermission"]:
        return type(f"Has_{'_'.join(p.replace('.', '_') for p in perms)}", (cls,), {"perms": perms})

    def has_permission(self, request, view) -> bool:
        user = request.user
        return bool(user and user.is_authenticated and user.has_perms(self.perms))
