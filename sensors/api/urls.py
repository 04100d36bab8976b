"""Sensors routes, mounted under /api/ by hospital.api.urls."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("gateways", views.GatewayViewSet)
router.register("sensors", views.SensorViewSet)
router.register("readings", views.ReadingViewSet)
router.register("discovered-devices", views.DiscoveredDeviceViewSet)
router.register("dead-letters", views.DeadLetterViewSet)
router.register("ingest-counters", views.IngestCounterViewSet)
router.register("ingest-status", views.IngestStatusViewSet)
