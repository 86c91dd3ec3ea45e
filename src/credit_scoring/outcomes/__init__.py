"""Realised outcomes (defaults) of logged decisions: intake, store and the decision lookup."""
