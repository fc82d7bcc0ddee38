"""Verification of a lab with pytest-testinfra: the pytest plugin, snapshots, shipped checks."""
