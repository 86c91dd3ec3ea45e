"""Registry package."""
