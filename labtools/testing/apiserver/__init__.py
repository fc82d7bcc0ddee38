"""The fake Kubernetes API server."""
