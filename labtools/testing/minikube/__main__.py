"""``python -m labtools.testing.minikube``."""

from __future__ import annotations

from labtools.testing.minikube.cli import main

raise SystemExit(main())
