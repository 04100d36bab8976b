"""Websocket routes. Consumers live in the app that owns the data they stream."""

from sensors.environment.routing import websocket_urlpatterns as environment_websockets

websocket_urlpatterns: list = [*environment_websockets]
