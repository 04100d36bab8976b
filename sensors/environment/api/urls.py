"""Alarm routes, mounted under /api/ by ``hospital.api.urls`` (found by convention: ``router``)."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("alarms", views.AlarmViewSet)

urlpatterns = router.urls
