"""`invoke lab.test`: every shipped lab's checks fail before their step and hold after it (on
the fake cluster, the lab's optional steps included); a lab whose check is `true` fails, with
a message naming the file, line and step."""

from __future__ import annotations

import pytest

from labtools.core.playbook import list_labs
from labtools.tutor.labtest import every_step_tags
from tests.integration.helpers import REPO, LabProject, processes_mentioning

pytestmark = [pytest.mark.fake, pytest.mark.slow]

SHIPPED = list_labs(REPO / "playbooks")

CANNOT_FAIL = """\
name: cannot-fail
description: a lab whose first check is `true`
setup:
  - name: make the marker
    command: touch {{ project_root }}/marker
    check:
      command: "true"
  - name: a check that works
    command: mkdir -p {{ project_root }}/made
    check:
      command: test -d {{ project_root }}/made
teardown:
  - name: clean up
    command: rm -rf {{ project_root }}/marker {{ project_root }}/made
    check:
      command: test ! -e {{ project_root }}/made
"""


@pytest.mark.parametrize("lab", SHIPPED)
def test_every_check_of_a_shipped_lab_can_fail(fake_project: LabProject, lab: str) -> None:
    tags = every_step_tags(REPO / "playbooks", lab)  # the optional steps too
    done = fake_project.invoke("lab.test", "--lab", lab, "--tags", tags, timeout=900)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    summary = output[output.index(f"LAB TEST {lab}:") :]
    assert "\n  failed " not in summary
    assert summary.count("\n  passed ") >= 10, summary
    # torn down after the test: no fake API server of this project is left
    assert processes_mentioning(str(fake_project.root / ".labtools" / "fake-minikube")) == []


def test_a_check_that_cannot_fail_fails_the_test(fake_project: LabProject) -> None:
    (fake_project.root / "playbooks" / "cannot-fail").mkdir()
    (fake_project.root / "playbooks" / "cannot-fail" / "playbook.yml").write_text(CANNOT_FAIL)
    done = fake_project.invoke("lab.test", "--lab", "cannot-fail", timeout=300)
    assert done.returncode == 1, done.stdout + done.stderr
    message = done.stderr
    where = f"{fake_project.root}/playbooks/cannot-fail/playbook.yml:6: setup[0].check"
    assert f"{where}: step 'make the marker' [basics]: the check holds BEFORE the step ran" in (
        message
    ), message
    assert "lab.test cannot-fail: 1 check failed its test" in message
    assert "hint: a check must fail before its step runs and hold after it" in message
    assert "Traceback" not in message
    assert "  passed   setup: a check that works [basics] (command)" in done.stdout
    assert not (fake_project.root / "made").exists()  # torn down after the test
