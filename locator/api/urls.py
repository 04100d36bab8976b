"""Locator routes, mounted under /api/ by hospital.api.urls."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("tags", views.TagViewSet)
router.register("zone-events", views.ZoneEventViewSet)
