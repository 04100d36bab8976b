"""OpenAPI schema tweaks: operations are tagged by the app that serves them (facility, assets, locator,
sensors, environment, ...) rather than all under ``api``, so the docs page groups them sensibly."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema


class AutoSchema(SpectacularAutoSchema):
    def get_tags(self) -> list[str]:
        module = type(self.view).__module__
        if ".api." in module:
            return [module.split(".api.")[0].rsplit(".", 1)[-1]]
        return super().get_tags()
