"""The role ladder: the one definition of the roles a served model can hold.

A model's role says how the router and the nightly evolution treat it. Roles form a ladder, lowest
first: ``student -> ta -> teacher``. A new model starts as a student; the nightly role update moves
a model at most one rung per decision. TAs and teachers are the peers whose logits candidates
learn from.

This module is at the bottom layer (standard library only), so the registry, the traffic store
and the evolution can all share it.
"""

from __future__ import annotations

STUDENT = "student"
TA = "ta"
TEACHER = "teacher"

LADDER: tuple[str, ...] = (STUDENT, TA, TEACHER)  # lowest first
DEFAULT_ROLE = STUDENT  # the role of a model nobody has promoted
PEER_ROLES: tuple[str, ...] = LADDER[1:]  # roles a candidate may learn from, lowest first


def rank(role: str) -> int:
    """The role's rung (0 = student); ``ValueError`` for a role not on the ladder."""
    return LADDER.index(role)


def above(role: str) -> str | None:
    """The next role up, or None at the top."""
    step = rank(role) + 1
    return LADDER[step] if step < len(LADDER) else None


def below(role: str) -> str | None:
    """The next role down, or None at the bottom."""
    step = rank(role) - 1
    return LADDER[step] if step >= 0 else None
