"""The Django project and the hospital's own domain: facility, assets, maintenance."""
