"""The stop rules of an ET-AL run (method doc §4), as pure functions of the group states.

* patience: a group whose entropy has not increased for ``patience`` consecutive
  acquisitions in it is excluded (:func:`increased` decides what counts as progress);
* the run stops when no group is eligible (pool exhausted / all groups excluded), when
  the only eligible group's entropy is already the highest (fairness stop, if on), or at
  the budget. Entropies are in nats.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..entropy import EntropyEstimate
from .state import GroupState

__all__ = ["increased", "stop_reason"]


def increased(before: EntropyEstimate, after: EntropyEstimate) -> bool:
    """Did an acquisition raise the group's entropy?

    A group still too small for an entropy counts as progressing (it is being filled
    up); a constant group progresses when it stops being constant.
    """
    if before.status == "too_few":
        return True
    if after.status != "ok":
        return False
    if before.status != "ok":
        return True
    return after.entropy > before.entropy


def eligible(groups: Mapping[str, GroupState]) -> list[str]:
    """Groups with candidates left that are not excluded, in order."""
    return [g for g, grp in groups.items() if grp.candidates.size and not grp.excluded]


def stop_reason(
    groups: Mapping[str, GroupState], *, patience: int | None, fairness_stop: bool, budget: int | None, n_acquired: int
) -> str | None:
    """Why the run stops now, or None while it may go on."""
    open_groups = eligible(groups)
    if not open_groups:
        if not any(grp.candidates.size for grp in groups.values()):
            return "pool exhausted"
        return f"all groups excluded (no entropy increase in {patience} consecutive acquisitions)"
    if fairness_stop and len(open_groups) == 1:
        only = groups[open_groups[0]].estimate
        finite = [grp.estimate.entropy for grp in groups.values() if grp.estimate.status == "ok"]
        if only.status == "ok" and only.entropy >= max(finite):
            return (
                f"fairness: {open_groups[0]!r} is the only eligible group and its entropy "
                f"({only.entropy:.4f} nats) is already the highest"
            )
    if budget is not None and n_acquired >= budget:
        return f"budget reached ({budget} acquisitions)"
    return None
