"""Facility: sites, buildings, floors, departments, rooms and zones, all in floor metres."""
