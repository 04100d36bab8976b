"""Websocket routes. Consumers live in the app that owns the data they stream."""

websocket_urlpatterns: list = []
