"""The maintenance REST API: plans, work orders (and their lifecycle actions), forecasts, safety notices,
usage, usage rules and failure models. Mounted under /api/ by ``hospital.api.urls``."""
