"""Maintenance routes, mounted under /api/ by ``hospital.api.urls`` (found by convention: ``router``)."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("maintenance-plans", views.MaintenancePlanViewSet)
router.register("work-orders", views.WorkOrderViewSet)
router.register("forecasts", views.ForecastViewSet)
router.register("safety-notices", views.SafetyNoticeViewSet)
router.register("usage-days", views.DailyUsageViewSet)
router.register("usage-periods", views.UsagePeriodViewSet)
router.register("usage-rules", views.UsageRuleViewSet)
router.register("failure-models", views.FailureModelViewSet)
router.register("forecast-runs", views.ForecastRunViewSet)

urlpatterns = router.urls
