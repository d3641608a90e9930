"""``School``: seeded generation of examples over its domains (one sampler per domain, kept inside
the range a tiny student can learn) and ``lookup``, which answers any query written in one of its
templates."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from academy.school.domains import _COUNTRY_NAMES, _UNIT_PAIRS, _UNITS, DOMAINS, WORDS, _country_display
from academy.school.examples import Example
from academy.school.solvers import _solve
from academy.school.templates import _TEMPLATES, _match_form, _Template

if TYPE_CHECKING:
    from academy.config import SchoolConfig

# --------------------------------------------------------------------------------------------------
# Samplers: rng -> slot values, kept inside the range a tiny student can learn.


def _sample_arithmetic(rng: random.Random, kind: str) -> dict[str, str]:
    a, b = rng.randint(10, 99), rng.randint(10, 99)
    if kind == "sub" and a < b:
        a, b = b, a  # the student only learns non-negative differences
    return {"a": str(a), "b": str(b)}


def _sample_units(rng: random.Random, kind: str) -> dict[str, str]:
    src, dst = rng.choice(_UNIT_PAIRS)
    amount = rng.randint(1, 30)
    source = _UNITS[src].singular if amount == 1 else _UNITS[src].plural
    return {"n": str(amount), "src": source, "dst": _UNITS[dst].plural}


def _sample_reverse(rng: random.Random, kind: str) -> dict[str, str]:
    return {"word": rng.choice(WORDS)}


def _sample_capitals(rng: random.Random, kind: str) -> dict[str, str]:
    return {"country": _country_display(rng.choice(_COUNTRY_NAMES))}


def _sample_sorting(rng: random.Random, kind: str) -> dict[str, str]:
    numbers = rng.sample(range(100), rng.randint(3, 5))
    return {"numbers": ", ".join(map(str, numbers))}


def _sample_compare(rng: random.Random, kind: str) -> dict[str, str]:
    a = rng.randrange(1000)
    b = rng.randrange(999)
    b += b >= a  # uniform over the numbers other than a: ties have no "larger" to learn
    return {"a": str(a), "b": str(b)}


_SAMPLERS: dict[str, Callable[[random.Random, str], dict[str, str]]] = {
    "arithmetic": _sample_arithmetic,
    "units": _sample_units,
    "reverse": _sample_reverse,
    "capitals": _sample_capitals,
    "sorting": _sample_sorting,
    "compare": _sample_compare,
}


# --------------------------------------------------------------------------------------------------
# The school


def _check_domain(domain: str) -> None:
    if domain not in DOMAINS:
        raise ValueError(f"unknown school domain {domain!r}; valid domains: {', '.join(DOMAINS)}")


class School:
    """Generates seeded examples of its domains and answers any query written in their templates.

    ``lookup`` only considers the school's own ``domains``: a school configured without a domain
    does not know its answers, just as it never generates its queries.
    """

    def __init__(self, seed: int = 0, domains: Sequence[str] = DOMAINS) -> None:
        if isinstance(domains, str):
            raise TypeError("domains must be a sequence of domain names, not a string")
        for domain in domains:
            _check_domain(domain)
        if not domains:
            raise ValueError(f"a school needs at least one domain; valid domains: {', '.join(DOMAINS)}")
        self.seed = seed
        self.domains: tuple[str, ...] = tuple(dict.fromkeys(domains))

    @classmethod
    def from_config(cls, config: SchoolConfig) -> School:
        return cls(seed=config.seed, domains=config.domains)

    def __repr__(self) -> str:
        return f"School(seed={self.seed}, domains={list(self.domains)})"

    def generate(
        self,
        n: int,
        mix: Mapping[str, float] | None = None,
        seed: int | None = None,
        phrasing: Mapping[str, Sequence[int]] | None = None,
    ) -> list[Example]:
        """``n`` examples, each domain drawn with probability proportional to its ``mix`` weight.

        ``phrasing`` (domain -> template indices) restricts a domain to some of its templates: the
        demo's phrasing drift is a domain switching to wordings its traffic never used before.
        Deterministic for the seed (``seed`` if given, else the school's), so data sets rebuild exactly.
        """
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        names, weights = self._weights(mix)
        templates = self._phrasing(phrasing or {})
        rng = random.Random(self.seed if seed is None else seed)
        return [
            self._sample(domain, rng, templates.get(domain))
            for domain in rng.choices(names, weights=weights, k=n)
        ]

    def generate_domain(self, domain: str, n: int, seed: int | None = None) -> list[Example]:
        """``n`` examples of one domain (templates drawn uniformly), deterministic for the seed."""
        self._check_enabled(domain)
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        rng = random.Random(self.seed if seed is None else seed)
        return [self._sample(domain, rng) for _ in range(n)]

    def lookup(self, query: str) -> Example | None:
        """Parse ``query`` against every template of the school's domains, in order, and answer it.

        Operands outside the generator's range are still answered when computable ("123 plus 456");
        None when no template matches (unrelated text, unknown country, incompatible units).
        """
        form = _match_form(query)
        for domain in self.domains:
            for template in _TEMPLATES[domain]:
                example = _solve(template, query, form)
                if example is not None:
                    return example
        return None

    def templates(self, domain: str) -> list[str]:
        """The domain's query templates, as format strings with named slots."""
        _check_domain(domain)
        return [template.text for template in _TEMPLATES[domain]]

    def _check_enabled(self, domain: str) -> None:
        _check_domain(domain)
        if domain not in self.domains:
            raise ValueError(f"domain {domain!r} is not one of this school's domains {list(self.domains)}")

    def _weights(self, mix: Mapping[str, float] | None) -> tuple[list[str], list[float]]:
        """Validated (domains, weights); an omitted domain gets weight 0, a missing mix is uniform."""
        if mix is None:
            return list(self.domains), [1.0] * len(self.domains)
        for domain, weight in mix.items():
            self._check_enabled(domain)
            if not (isinstance(weight, int | float) and math.isfinite(weight) and weight >= 0):
                raise ValueError(f"mix weight for {domain!r} must be a finite number >= 0, got {weight!r}")
        names = [domain for domain in self.domains if mix.get(domain, 0) > 0]
        if not names:
            raise ValueError(f"mix needs at least one positive weight, got {dict(mix)}")
        return names, [float(mix[domain]) for domain in names]

    def _phrasing(self, phrasing: Mapping[str, Sequence[int]]) -> dict[str, list[_Template]]:
        """Validated domain -> allowed templates."""
        allowed = {}
        for domain, indices in phrasing.items():
            self._check_enabled(domain)
            count = len(_TEMPLATES[domain])
            if not indices or any(not isinstance(i, int) or not 0 <= i < count for i in indices):
                raise ValueError(
                    f"phrasing for {domain!r} must be a non-empty list of template indices 0..{count - 1}, "
                    f"got {list(indices)!r}"
                )
            allowed[domain] = [_TEMPLATES[domain][i] for i in indices]
        return allowed

    def _sample(self, domain: str, rng: random.Random, templates: list[_Template] | None = None) -> Example:
        """Fill a random template of ``domain`` and solve it through the same parser ``lookup`` uses."""
        template = rng.choice(templates or _TEMPLATES[domain])
        query = template.text.format(**_SAMPLERS[domain](rng, template.kind))
        example = _solve(template, query, _match_form(query))
        if example is None:  # a sampler/template mismatch is a bug in the school, never bad input
            raise RuntimeError(f"school generated a query its own template cannot answer: {query!r}")
        return example
