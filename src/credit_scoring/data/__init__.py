"""Data package."""
