"""Roles on the registry: a model's place on the ladder (student -> ta -> teacher) and the judged
win rates that move it.

The role is the registered model's tag ``academy.role`` (a model without one is a student); every
change is appended, with its reason, to ``academy.role_history``. Win rates are recorded per night
in ``academy.win_rates``. Both histories keep their newest entries when a tag would overflow.
Which roles exist is ``academy.roles.LADDER``; deciding a change is the evolution's business.
"""

from __future__ import annotations

import json
from typing import Any

from academy.roles import DEFAULT_ROLE
from registry.core import (
    ROLES,
    TAG_ROLE,
    TAG_ROLE_HISTORY,
    TAG_WIN_RATES,
    RegistryCore,
    RegistryError,
    capped_json,
    now_iso,
    wrap_errors,
)


class Roles(RegistryCore):
    """Reading and changing a model's role, and its nightly win rates; see the module docstring."""

    @wrap_errors
    def set_role(self, name: str, role: str, reason: str) -> None:
        if role not in ROLES:
            raise RegistryError(f"unknown role {role!r}; roles: {list(ROLES)}")
        model = self._registered(name)
        old = model.tags.get(TAG_ROLE, DEFAULT_ROLE)
        history = json.loads(model.tags.get(TAG_ROLE_HISTORY) or "[]")
        history.append({"from": old, "to": role, "reason": reason, "time": now_iso()})
        text = capped_json(history)
        self.client.set_registered_model_tag(name, TAG_ROLE_HISTORY, text)
        self.client.set_registered_model_tag(name, TAG_ROLE, role)

    @wrap_errors
    def role(self, name: str) -> str:
        return self._registered(name).tags.get(TAG_ROLE, DEFAULT_ROLE)

    @wrap_errors
    def role_history(self, name: str) -> list[dict[str, Any]]:
        return json.loads(self._registered(name).tags.get(TAG_ROLE_HISTORY) or "[]")

    @wrap_errors
    def record_win_rate(self, name: str, night: str, win_rate: float, contested: int) -> None:
        """Record one night's judged win rate (model tag ``academy.win_rates``, oldest first); a
        night recorded again replaces its entry in place, so re-running a night is idempotent."""
        model = self._registered(name)
        rates = json.loads(model.tags.get(TAG_WIN_RATES) or "[]")
        entry = {"night": night, "win_rate": float(win_rate), "contested": int(contested), "time": now_iso()}
        nights = [r.get("night") for r in rates]
        if night in nights:
            rates[nights.index(night)] = entry  # keeps its place in the sequence
        else:
            rates.append(entry)
        text = capped_json(rates)
        self.client.set_registered_model_tag(name, TAG_WIN_RATES, text)

    @wrap_errors
    def win_rates(self, name: str) -> list[dict[str, Any]]:
        """Recorded nights as ``{"night", "win_rate", "contested", "time"}``, in recording order."""
        return json.loads(self._registered(name).tags.get(TAG_WIN_RATES) or "[]")
