"""URLs of the live map and the equipment search (included at the site root, namespace ``locator``)."""

from django.urls import path

from . import views

app_name = "locator"

urlpatterns = [
    path("map/", views.map_index, name="map"),
    path("map/<int:floor_id>/", views.floor_map, name="floor"),
    path("map/<int:floor_id>/data.json", views.floor_data, name="floor-data"),
    path("find/", views.find, name="find"),
    path("find/results.json", views.find_json, name="find-json"),
]
