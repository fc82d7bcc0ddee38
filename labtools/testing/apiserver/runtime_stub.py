"""A no-op pod runtime, used only when the real one (pods.py) cannot be imported."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

_IPS = itertools.count(100)


class PodRuntime:
    """Starts nothing; hands out pod IPs so pods still become Running."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def start(self, pod: dict[str, Any], **_: Any) -> dict[str, Any]:
        """Pretend to start the pod."""
        n = next(_IPS)
        return {"podIP": f"10.244.{n // 250}.{n % 250 + 2}", "containerIDs": {}}

    def stop(self, namespace: str, name: str) -> None:
        """Nothing to stop."""

    def shutdown(self) -> None:
        """Nothing to stop."""
