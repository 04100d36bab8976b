"""Base view sets every app's API uses: authentication from settings (session or token), model
permissions for reads as well as writes, and the project's pagination."""

from django.db.models import ProtectedError, RestrictedError
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from .pagination import PageNumberPagination
from .permissions import ModelPermissions
from .schema import AutoSchema


class ReadOnlyModelViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [ModelPermissions]
    pagination_class = PageNumberPagination
    schema = AutoSchema()


class ModelViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    permission_classes = [ModelPermissions]
    pagination_class = PageNumberPagination
    schema = AutoSchema()

    def destroy(self, request, *args, **kwargs):
        """A row other records still need (work orders, audit trails) is a 409 with the reason, not a 500."""
        try:
            return super().destroy(request, *args, **kwargs)
        except (ProtectedError, RestrictedError) as exc:
            blocking = sorted({str(obj._meta.verbose_name_plural) for obj in exc.args[1]})
            return Response({"detail": f"In use by {', '.join(blocking)}; it cannot be deleted."},
                            status=status.HTTP_409_CONFLICT)
