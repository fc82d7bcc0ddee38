"""labtools.testing: a fake Kubernetes cluster (API server + minikube) for tests. A test double."""
