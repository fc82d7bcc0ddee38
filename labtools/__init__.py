"""labtools: Kubernetes labs as data (inventory, playbooks, templates), run with invoke."""

__version__ = "0.1.0"
