"""Helpers shared by test files (import them from here, never from conftest or another test file)."""
