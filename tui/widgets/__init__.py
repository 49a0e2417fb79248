"""Widgets, by the area of the screen they serve."""
