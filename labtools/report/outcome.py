"""The one line that ends a recap: how many hosts are ready, and why each dropped host failed.

``28/30 ready; lab-07 failed at 'wait for the deployment' (ImagePullBackOff); lab-19 ...``.
Hosts that failed at the same step for the same reason share one entry, so 30 participants with
one broken image make one short line, not thirty.
"""

from __future__ import annotations

from collections.abc import Sequence

from labtools.core.inventory import compress_hosts
from labtools.core.messages import Text, english, joined, msg, msgn
from labtools.core.results import HostFailure

MAX_GROUPS = 6  # past this, "and N more": the recap table above has every host


def outcome_line(
    hosts: Sequence[str], failures: Sequence[HostFailure], unfinished: Sequence[str] = ()
) -> Text:
    """``N/M ready``, each (step, reason) group of failed hosts, then what Ctrl-C stopped: the
    hosts it interrupted in a step and the ones it stopped between steps (``unfinished``)."""
    dropped = {failure.host for failure in failures} | set(unfinished)
    ready = sum(1 for host in hosts if host not in dropped)
    groups: dict[tuple[str, str, bool], tuple[Text, list[str]]] = {}
    for failure in failures:
        # how long an interrupted step had run is no reason: one group per step
        same = "" if failure.interrupted else english(failure.reason)
        key = (failure.step, same, failure.interrupted)
        groups.setdefault(key, (failure.reason, []))[1].append(failure.host)
    parts: list[Text] = [msg("{ready}/{total} ready", ready=ready, total=len(hosts))]
    for (step, _, interrupted), (reason, names) in list(groups.items())[:MAX_GROUPS]:
        if interrupted:
            parts.append(
                msg("{hosts} interrupted at '{step}'", hosts=compress_hosts(names), step=step)
            )
            continue
        parts.append(
            msg(
                "{hosts} failed at '{step}' ({reason})",
                hosts=compress_hosts(names),
                step=step,
                reason=reason,
            )
        )
    hidden = sum(len(names) for _, names in list(groups.values())[MAX_GROUPS:])
    if hidden:
        parts.append(msgn("and {n} more host failed", "and {n} more hosts failed", hidden))
    if unfinished:
        parts.append(msg("{hosts} stopped before the end", hosts=compress_hosts(list(unfinished))))
    return joined(parts, msg("; "))
