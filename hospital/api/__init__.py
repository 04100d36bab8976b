"""The REST API root: shared permission, pagination and router classes, discovery of each app's
``api/urls.py``, the ``/api/`` root, the OpenAPI schema, the self-hosted Swagger UI and the token
endpoint for integrations. See docs/api.md."""
