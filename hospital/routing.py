"""Websocket routes. Consumers live in the app that owns the data they stream."""

from django.urls import path

from locator.consumers import FloorConsumer
from sensors.environment.routing import websocket_urlpatterns as environment_websockets

websocket_urlpatterns: list = [
    path("ws/floors/<int:floor_id>/", FloorConsumer.as_asgi()),
    *environment_websockets,
]
