"""The minikube release the fake imitates."""

from __future__ import annotations

MINIKUBE_VERSION = "v1.37.0"
MINIKUBE_COMMIT = "65318f4cfff9c12cc87ec9eb8f4cdd57b25047f3"
DEFAULT_KUBERNETES_VERSION = "v1.34.0"
OLDEST_KUBERNETES_VERSION = "v1.28.0"
KIC_BASE_VERSION = "v0.0.48"
