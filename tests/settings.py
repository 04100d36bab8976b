"""Test settings: production settings with a throw-away secret and no HTTPS redirect.

Tests run with DEBUG off, like production. DATABASE_URL, REDIS_URL and MQTT_URL come from the
environment exactly as in production; without them the embedded defaults are used.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-use-0123456789")
os.environ.setdefault("VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from hospital.settings import *  # noqa: E402,F403

SECURE_SSL_REDIRECT = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation in tests
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405
WHITENOISE_USE_FINDERS = True
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
os.makedirs(STATIC_ROOT, exist_ok=True)  # noqa: F405 - whitenoise warns when it is missing

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not memory, so worker processes started by tests see the same test database.
    # One file per test run, so runs side by side never share (or delete) each other's database.
    DATABASES["default"]["TEST"] = {"NAME": os.path.join(VAR_DIR, f"test-{os.getpid()}.sqlite3")}  # noqa: F405
