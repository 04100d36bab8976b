"""Locator: tags, sightings, the positioning engine, position fixes, current locations, the live map."""
