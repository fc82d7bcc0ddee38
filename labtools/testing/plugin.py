"""pytest fixtures for the fake cluster (filled in by the fake-cluster work)."""
