"""Settings, all read from the environment (see the table in README.md).

Defaults are the embedded ones so a newcomer runs everything with no servers: a SQLite file under
``var/``, the in-memory channel layer and the in-process amqtt broker. Production sets
``DATABASE_URL``, ``REDIS_URL`` and ``MQTT_URL`` to PostgreSQL, Redis and Mosquitto.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (see README: Configuration).")
    SECRET_KEY = "insecure-development-key-only-for-DEBUG-mode-never-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "channels",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "hospital.facility",
    "hospital.assets",
    "hospital.maintenance",
    "hospital",
    "sensors",
    "sensors.environment",
    "locator",
    "hospital.twofactor",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "hospital.twofactor.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "hospital.urls"
ASGI_APPLICATION = "hospital.asgi.application"
WSGI_APPLICATION = "hospital.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "hospital" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'hospital.sqlite3'}",
        # 0: under daphne every request's synchronous part runs in a new thread, and persistent
        # connections would pile up until PostgreSQL refuses clients (measured, docs/web.md).
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "0")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Statements run this often on one connection are prepared. Only cursors that bind on the server are
    # (the equipment search, locator.search); Django's own bind on the client and never are. Empty turns
    # it off, for a transaction-pooling PgBouncer older than 1.21, which cannot keep prepared statements.
    _prepare = os.environ.get("DB_PREPARE_THRESHOLD", "5")
    DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = int(_prepare) if _prepare else None
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while ingest writes; the timeout rides out short write locks.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        # redis-py's 5 s default read timeout equals channels-redis's blocking read: idle websockets
        # would be dropped every few seconds (tests/web/test_redis_processes.py).
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer",
                    "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}]}}
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "hospital.channel_layer.EmbeddedChannelLayer"}}

if REDIS_URL:  # shared by every web process: login throttling, rate limits
    CACHES = {"default": {"BACKEND": "hospital.cache.RedisCache", "LOCATION": REDIS_URL}}
    # Sessions read from Redis, written through to the database (they survive a Redis restart): one
    # query less on every signed-in request. Only with a cache every process shares; a per-process
    # cache could keep serving a session another process has ended.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The embedded amqtt broker listens on 11883 so it never fights a real Mosquitto on 1883.
EMBEDDED_MQTT_PORT = int(os.environ.get("EMBEDDED_MQTT_PORT", "11883"))
MQTT_URL = os.environ.get("MQTT_URL", "")
MQTT_EMBEDDED = not MQTT_URL
if MQTT_EMBEDDED:
    MQTT_URL = f"mqtt://hospital@127.0.0.1:{EMBEDDED_MQTT_PORT}"
MQTT_TOPIC_ROOT = os.environ.get("MQTT_TOPIC_ROOT", "hospital")
MQTT_SHARE_GROUP = os.environ.get("MQTT_SHARE_GROUP", "ingest")
# Resend requests per sequence gap before the missing batches stay counted as lost; 0 turns them off.
INGEST_RESEND_ATTEMPTS = int(os.environ.get("INGEST_RESEND_ATTEMPTS", "3"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = ["hospital.auth.ThrottledModelBackend"]
LOGIN_FAILURES_ALLOWED = int(os.environ.get("LOGIN_FAILURES_ALLOWED", "5"))
LOGIN_LOCKOUT_S = int(os.environ.get("LOGIN_LOCKOUT_S", "900"))
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Two-factor login (hospital/twofactor, docs/security.md): optional for everyone, compulsory for
# administrators when set (production).
ADMIN_2FA_REQUIRED = env_bool("ADMIN_2FA_REQUIRED", False)
OTP_TOTP_ISSUER = "Hospital tracking"
OTP_ADMIN_HIDE_SENSITIVE_DATA = True  # the admin never shows another user's secret or backup codes

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "hospital" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG
# Operations (see README: Configuration).
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000")  # links in alarm e-mails
READINGS_RAW_RETENTION_DAYS = int(os.environ.get("READINGS_RAW_RETENTION_DAYS", "90"))
LOCATOR_MISSING_AFTER_S = int(os.environ.get("LOCATOR_MISSING_AFTER_S", "1800"))
MAINTENANCE_LOOKAHEAD_DAYS = int(os.environ.get("MAINTENANCE_LOOKAHEAD_DAYS", "14"))

FLOORPLAN_DIR = BASE_DIR / "floorplans"
FIXTURE_DIR = BASE_DIR / "fixtures"

# E-mail: console in development, SMTP when EMAIL_HOST is set.
EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "alarms@hospital.invalid")
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if EMAIL_HOST else "django.core.mail.backends.console.EmailBackend",
)

REST_FRAMEWORK = {
    # Token first: an anonymous API caller gets 401 with a WWW-Authenticate header, not 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Model permissions including view_ for reads, even for views that skip the project's base classes.
    "DEFAULT_PERMISSION_CLASSES": ["hospital.api.permissions.ModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "hospital.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_RATES": {"user": "2000/min", "anon": "30/min"},
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hospital asset and environment tracking API",
    "VERSION": "0.1.0",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {
        "AlarmStateEnum": "sensors.environment.choices.AlarmState",
    },
}

# Production hardening: `manage.py check --deploy` is clean with DEBUG off.
if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "daphne": {"level": "WARNING"}},
}
