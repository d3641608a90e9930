"""Which students train tonight, on which gaps: the plan of a night, from the gap report, the
registry and the candidates of earlier nights (academy/evolution/specialists.py says why
specialists). Plain functions over the config; ``tasks/nightly.py`` wraps them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import datasets
import numpy as np

from academy.config import AcademyConfig
from academy.evolution import dataset as ds
from academy.evolution import specialists as sp
from academy.evolution import step_budget as sb
from academy.evolution import students as st
from academy.evolution.evaluation import GAP_METRIC
from academy.evolution.gaps import read_gaps
from academy.evolution.layout import NightLayout
from academy.evolution.snapshot import read_snapshot
from registry.model_registry import ModelRegistry


def plan(cfg: AcademyConfig) -> dict[str, list[int]]:
    """student -> gap clusters to learn tonight. With ``gaps.specialise`` (the default) every gap
    goes to a specialist of its region, an earlier one or a new one, and the ``max_students`` whose
    biggest gaps save the most train (academy/evolution/specialists.py); without it, each student retrains on
    the gaps where it is best and uncovered gaps go to one new student (key ``SPAWN``, named by
    :func:`spawn_plan`). A student whose gaps hold fewer than ``min_queries`` training rows sits
    the night out: taught from a handful of answers it never passes its gate.

    A gap whose best student is no longer trainable here (not a configured hf student, not in the
    registry: e.g. a remote model) counts as uncovered.
    """
    registry = ModelRegistry.from_config(cfg)
    report = read_gaps(NightLayout.of(cfg).gaps)[1]
    if cfg.evolution.gaps.specialise and st.local_students(cfg):
        gaps = cfg.evolution.gaps
        taken = [m.name for m in cfg.models] + registry.models()
        chosen = sp.night_plan(
            report,
            specialist_centres(cfg),
            cluster_centres(cfg),
            gaps.specialist_similarity,
            gaps.max_students,
            st.new_names(taken),
        )
        rows = rows_per_gap(cfg)
        return {s: g for s, g in chosen.items() if enough_examples(rows, g, gaps.min_queries)}
    trainable = {m.name for m in st.local_students(cfg)} | set(registry.models())
    plan: dict[str, list[int]] = {}
    for student, gaps in st.assignments(report).items():
        plan.setdefault(student if student in trainable else st.SPAWN, []).extend(gaps)
    if st.SPAWN in plan and not enough_examples(
        rows_per_gap(cfg), plan[st.SPAWN], cfg.evolution.gaps.min_queries
    ):
        del plan[st.SPAWN]
    return plan


def refusal_discounts(
    cfg: AcademyConfig, registry: ModelRegistry, students: Iterable[str]
) -> dict[str, float]:
    """student -> ``gaps.refusal_discount`` ** the candidates the gate refused since its last
    promotion without a rise in held-out gap exact match (academy/evolution/step_budget.py), from
    the registry's stages and the metrics each version was registered with."""
    discount = cfg.evolution.gaps.refusal_discount
    out = {}
    for s in students:
        history = registry.stages(s, GAP_METRIC)
        out[s] = discount ** sb.refusal_streak([h[0] for h in history], [h[1] for h in history])
    return out


def step_shares(cfg: AcademyConfig, plan: dict[str, list[int]]) -> dict[str, int]:
    """student -> its SFT steps tonight: the night's ``distill.steps`` x len(plan) shared by region
    savings and refusal streaks (academy/evolution/step_budget.py); every student gets
    ``distill.steps`` with ``gaps.share_steps`` off. Computed once, before anyone trains tonight."""
    steps, gaps = cfg.evolution.distill.steps, cfg.evolution.gaps
    if not (gaps.share_steps and gaps.specialise) or len(plan) < 2:
        return dict.fromkeys(plan, steps)
    savings = {g.cluster: g.savings for g in read_gaps(NightLayout.of(cfg).gaps)[1].selected}
    region = {s: max((savings.get(c, 0.0) for c in clusters), default=0.0) for s, clusters in plan.items()}
    discounts = refusal_discounts(cfg, ModelRegistry.from_config(cfg), plan)
    weights = {s: max(0.0, region[s]) * discounts[s] for s in plan}
    return sb.share_steps(weights, steps, gaps.min_step_share, gaps.max_step_share)


def specialist_centres(cfg: AcademyConfig) -> dict[str, Any]:
    """Students spawned on earlier nights -> the centre of the region they last trained on (from
    their candidate's ``train.json``): how a region finds its specialist again tomorrow."""
    generalists = {m.name for m in st.local_students(cfg)}
    root = NightLayout.of(cfg).candidates
    out = {}
    for record_file in sorted(root.glob("*/train.json")) if root.is_dir() else []:
        name = record_file.parent.name
        centre = st.read_json(record_file).get("centre")
        if name not in generalists and centre:
            out[name] = np.asarray(centre, dtype=np.float64)
    return out


def spawning(cfg: AcademyConfig, plan: dict[str, list[int]]) -> list[str]:
    """The students of ``plan`` with no version in production yet: they are trained as spawned
    students (from the generalist's weights or their own last candidate; no incumbent to beat)."""
    registry = ModelRegistry.from_config(cfg)
    known = set(registry.models())
    return sorted(
        s
        for s in plan
        if s == st.SPAWN or not is_generalist(cfg, s) and (s not in known or registry.production(s) is None)
    )


def cluster_centres(cfg: AcademyConfig) -> dict[int, Any]:
    """Tonight's clusters' unit-mean query embeddings (academy/evolution/specialists.py)."""
    layout = NightLayout.of(cfg)
    return sp.centroids(read_snapshot(layout.snapshot).queries, read_gaps(layout.gaps)[0])


def is_generalist(cfg: AcademyConfig, student: str) -> bool:
    """A configured local student (the generalist); spawned students are specialists."""
    return student in {m.name for m in st.local_students(cfg)}


def specialist_rehearsal(
    cfg: AcademyConfig, student: str, gaps: list[int]
) -> list[tuple[str, str, str | None]]:
    """A student's warm-start rehearsal: all of it for a configured generalist; for a specialist
    (spawned, not configured) only the pairs whose query falls in its gap clusters."""
    pairs = st.rehearsal_pairs(cfg, student)
    if is_generalist(cfg, student) or not pairs:
        return pairs
    embeddings = st.rehearsal_embeddings(cfg, student, pairs)
    return sp.rehearsal_in_region(pairs, embeddings, cluster_centres(cfg), gaps)


def spawn_plan(cfg: AcademyConfig, current: dict[str, list[int]] | None = None) -> dict[str, list[int]]:
    """Tonight's students that have no production version yet (see :func:`spawning`), by name; the
    uncovered gaps of a night without ``gaps.specialise`` get the next free name. Run after the
    other students, so the name skips any version they registered. ``current``: the night's plan as
    made before anyone trained, the one its step shares were made for (None: plan now)."""
    current = plan(cfg) if current is None else current
    out = {s: current[s] for s in spawning(cfg, current) if s != st.SPAWN}
    if st.SPAWN in current:
        names = [m.name for m in cfg.models] + ModelRegistry.from_config(cfg).models() + list(out)
        out[st.spawn_name(names)] = current[st.SPAWN]
    return out


def rows_per_gap(cfg: AcademyConfig) -> Counter[int] | None:
    """Training rows per gap cluster in tonight's datasets, read once (None: no datasets yet, no limit)."""
    layout = NightLayout.of(cfg)
    if not (layout.distill / ds.TRAIN_FILE).is_file():
        return None
    datasets.disable_progress_bars()
    return Counter(ds.read_datasets(layout.distill)["train"]["gap"])


def enough_examples(rows: Counter[int] | None, gaps: list[int], minimum: int) -> bool:
    """Whether a student trained on ``gaps`` (no retention) would learn from ``minimum`` rows."""
    return rows is None or sum(rows[g] for g in set(gaps)) >= minimum


def region_of(cfg: AcademyConfig, gaps: list[int]) -> list[float] | None:
    """The unit-mean centroid of these gap clusters, recorded with a specialist's candidate."""
    centre = sp.region_centre(cluster_centres(cfg), gaps)
    return None if centre is None else [round(float(x), 6) for x in centre]
