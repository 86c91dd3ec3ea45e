"""Features package."""
