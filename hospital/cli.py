"""Console entry points installed with the package (see pyproject.toml)."""

import os
import sys


def demo() -> None:
    """``hospital-demo [--port N]``: the same as ``DEBUG=1 python manage.py demo``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hospital.settings")
    os.environ.setdefault("DEBUG", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["hospital-demo", "demo", *sys.argv[1:]])
