"""Validation package."""
