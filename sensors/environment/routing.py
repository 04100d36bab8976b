"""Websocket routes of environmental monitoring (added to ``hospital.routing``)."""

from django.urls import path

from .consumers import AlarmConsoleConsumer

websocket_urlpatterns = [
    path("ws/alarms/", AlarmConsoleConsumer.as_asgi()),
    path("ws/alarms/site/<int:site_id>/", AlarmConsoleConsumer.as_asgi()),
]
