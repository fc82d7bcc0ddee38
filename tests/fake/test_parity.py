"""Parity rows for everyday kubectl commands, with the real kubectl against the fake.

Each expected text names the Kubernetes v1.32 source it comes from.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from labtools.testing.cluster import NamespacedKubectl as Kube

pytestmark = pytest.mark.fake

JOB_WITH_TYPOS = """\
apiVersion: batch/v1
kind: Job
metadata:
  name: typo
  lables:
    app: typo
spec:
  backoffLimit: 2
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: c
        image: busybox
        comand: ["true"]
status:
  bogus: 1
"""


def test_strict_decoding_covers_every_kind_and_status(kube: Kube, tmp_path: Path) -> None:
    """Unknown fields of any built-in kind, metadata and status included, in document order.

    apimachinery runtime/serializer/json/json.go decodes strictly (sigs.k8s.io/json) into the
    Go types; apiserver handlers/create.go wraps it as `Job in version "v1" cannot be handled
    as a Job: strict decoding error: ...`. kubectl sends the keys sorted (YAML -> map -> JSON).
    """
    path = tmp_path / "job.yaml"
    path.write_text(JOB_WITH_TYPOS)
    result = kube("create", "-f", str(path))
    assert result.returncode == 1
    assert result.stderr == (
        f'Error from server (BadRequest): error when creating "{path}": Job in version "v1" '
        'cannot be handled as a Job: strict decoding error: unknown field "metadata.lables", '
        'unknown field "spec.template.spec.containers[0].comand", unknown field "status.bogus"\n'
    )
    warned = kube("create", "-f", str(path), "--validate=warn")
    assert warned.returncode == 0, warned.stderr
    assert 'Warning: unknown field "spec.template.spec.containers[0].comand"' in warned.stderr
    # what the server stores and serves back passes its own strict check (get -> replace)
    served = kube.ok("get", "job", "typo", "-o", "yaml")
    again = tmp_path / "served.yaml"
    again.write_text(served)
    assert kube.ok("replace", "-f", str(again)) == "job.batch/typo replaced\n"
