"""Duban test suite."""
