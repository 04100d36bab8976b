"""Settings come from the environment; production mode is locked down."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=120
    )


def test_check_deploy_is_clean_in_production_mode():
    result = run_manage(
        "check", "--deploy", "--fail-level", "WARNING",
        DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="hospital.example.org", ADMIN_2FA_REQUIRED="1",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_secret_key_required_when_debug_is_off():
    result = run_manage("check", DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_database_url_selects_the_database(tmp_path):
    db = tmp_path / "other.sqlite3"
    code = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    result = run_manage("shell", "--no-imports", "-c", code, DEBUG="1", DATABASE_URL=f"sqlite:///{db}")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(db)


def test_redis_url_selects_the_redis_channel_layer():
    code = "from django.conf import settings; print(settings.CHANNEL_LAYERS['default']['BACKEND'])"
    with_redis = run_manage("shell", "--no-imports", "-c", code, DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/3")
    without = run_manage("shell", "--no-imports", "-c", code, DEBUG="1", REDIS_URL="")
    assert with_redis.stdout.strip() == "channels_redis.core.RedisChannelLayer"
    assert without.stdout.strip() == "hospital.channel_layer.EmbeddedChannelLayer"


def test_embedded_broker_does_not_take_mosquittos_port():
    code = "from django.conf import settings; print(settings.MQTT_EMBEDDED, settings.MQTT_URL)"
    result = run_manage("shell", "--no-imports", "-c", code, DEBUG="1", MQTT_URL="")
    embedded, url = result.stdout.split()
    assert embedded == "True" and not url.endswith(":1883")
