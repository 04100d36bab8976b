from django.apps import AppConfig


class FacilityConfig(AppConfig):
    name = "hospital.facility"
    label = "facility"
    verbose_name = "Facility"
