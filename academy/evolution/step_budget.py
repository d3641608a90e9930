"""Where a night's training steps go: to the regions that cost the most, discounted by each
specialist's run of refusals.

Every student of a night used to get the same ``distill.steps``. On seed 0 (the default demo)
the sorting specialist took 100 steps on each of six nights, the longest sequences of the school
(0.24 s a step against capitals' 0.08 s), and its held-out exact match never left 0.30-0.41: the gate
refused it every night. The capitals specialist, spawned on night 5 for the region that saved the
most, got the same 100 steps: 0.0 held out that night, 0.56 after the second 100 on night 6, with
confidences too low for the gate's selective check. Retrained offline from its night-5 weights with
300 steps on night 6's data it reached 0.67, the ceiling of that data (12 of the 18 held-out
queries name a country its training set has), and was sure (lowest token probability >= 0.9) of
exactly the 12 it got right: the gate would have admitted it a night earlier.

So the night's steps (``distill.steps`` x its students, the same total as before) are shared in
proportion to each student's weight: the savings of its region (its biggest gap, the measure that
chose the regions), times ``refusal_discount`` for every candidate of it the gate refused since its
last promotion whose held-out gap score did not rise over its predecessor's. A student is a bandit
arm whose estimate falls with each failed pull and resets when one pays: a region that learns gets
promoted or keeps rising and keeps its share; one that does not fades to the floor
(``min_step_share``) but is still tried, so a slow learner is not abandoned. The shares are counted
in steps, not seconds, so moving steps from long sequences to short ones also shortens the night.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

REJECTED = "rejected"


def refusal_streak(stages: Sequence[str], scores: Sequence[float | None] | None = None) -> int:
    """How many of a student's newest versions (``stages`` oldest first) the gate refused in a row
    without learning. A version promoted since, or still staged, ends the run. With ``scores`` (each
    version's held-out gap exact match when it was registered), a refused version that scored above
    the version before it is not counted: it was still learning, only not yet past the gate (on a
    trace, a specialist refused four nights running while its held-out score rose 0.18, 0.21, 0.28,
    0.31 had been cut to 25 steps by the fourth)."""
    marks = list(scores) if scores is not None else [None] * len(stages)
    if len(marks) != len(stages):
        raise ValueError(f"{len(marks)} scores for {len(stages)} versions")
    streak = 0
    for i in range(len(stages) - 1, -1, -1):
        if stages[i] != REJECTED:
            break
        before = marks[i - 1] if i > 0 else None
        rose = marks[i] is not None and before is not None and marks[i] > before
        streak += 0 if rose else 1
    return streak


def share_steps(weights: Mapping[str, float], steps: int, floor: float, cap: float) -> dict[str, int]:
    """Split ``steps`` x len(weights) steps in proportion to ``weights``, each student's share kept
    within [``floor`` x steps, ``cap`` x steps] (pure). The bounds are met by water-filling: a share
    clamped to a bound is fixed there and the rest is split again among the others. All weights
    zero: every student gets ``steps``."""
    names = sorted(weights)
    if not names:
        return {}
    total = steps * len(names)
    low, high = floor * steps, max(cap, floor) * steps
    if sum(weights.values()) <= 0:
        return dict.fromkeys(names, steps)
    fixed: dict[str, float] = {}
    while len(fixed) < len(names):
        free = [n for n in names if n not in fixed]
        left = total - sum(fixed.values())
        mass = sum(weights[n] for n in free)
        share = {n: left * weights[n] / mass if mass > 0 else left / len(free) for n in free}
        # the over-full side first: fixing those at the cap frees steps that may lift the others
        over = {n: high for n, v in share.items() if v > high}
        under = {n: low for n, v in share.items() if v < low}
        if not over and not under:
            fixed |= share
            break
        fixed |= over or under
    return _whole(fixed, total, names)


def _whole(shares: Mapping[str, float], total: int, names: list[str]) -> dict[str, int]:
    """Round to whole steps that still add up to ``total`` (largest remainders first), at least 1 each."""
    floors = {n: int(shares[n]) for n in names}
    rest = total - sum(floors.values())
    for n in sorted(names, key=lambda n: (floors[n] - shares[n], n))[: max(0, rest)]:
        floors[n] += 1
    return {n: max(1, v) for n, v in floors.items()}
