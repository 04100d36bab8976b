"""Facility routes, mounted under /api/ by hospital.api.urls."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("sites", views.SiteViewSet)
router.register("buildings", views.BuildingViewSet)
router.register("floors", views.FloorViewSet)
router.register("departments", views.DepartmentViewSet)
router.register("rooms", views.RoomViewSet)
router.register("zones", views.ZoneViewSet)
