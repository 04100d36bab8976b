"""Asset routes, mounted under /api/ by hospital.api.urls."""

from hospital.api.routers import Router

from . import views

router = Router()
router.register("asset-types", views.AssetTypeViewSet)
router.register("assets", views.AssetViewSet)
