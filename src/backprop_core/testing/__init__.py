"""Reusable test suites for plugin authors (need pytest)."""
