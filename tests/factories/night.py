"""The tiny night shared by the nightly tests (tests/integration/test_nightly.py, test_parallel_night.py,
tests/e2e/test_cluster_postgres.py): its config on a temporary home and a day of school traffic
routed through a real runtime."""

from __future__ import annotations

import asyncio
from pathlib import Path

from academy.config import AcademyConfig
from academy.route_batch import route_examples
from academy.runtime import Runtime
from academy.school import School
from tests.factories import make_config

DOMAIN = "units"  # learnable by a tiny student in a few hundred steps (~0.5 exact match from 0)
TENANT = "school"


def night_config(home: Path, student_dir: Path, **distill) -> AcademyConfig:
    # other_version_weight 0: version 1's failures must not hold back version 2 in these small
    # neighbourhoods (the discounted inheritance is tested in test_routing)
    # and the knn estimator: a tiny student right on a third of units queries is never served with
    # confidence (the evidence estimator's floor), but its version's share can still be compared
    cfg = make_config(home, student_dir=student_dir, other_version_weight=0.0, estimator="knn")
    return AcademyConfig.model_validate(
        cfg.model_dump(mode="json")
        | {
            "paths": {"home": str(home), "data": str(home / "datasets")},
            "school": {"seed": 0, "domains": [DOMAIN]},
            "evolution": {
                # the generalist keeps its gaps here (specialists: tests/unit/test_specialists.py)
                "gaps": {"min_queries": 5, "min_student_evidence": 1, "specialise": False},
                # the tiny student's 20-step warm start holds nothing worth rehearsing
                "dataset": {"eval_fraction": 0.2, "regression_per_cluster": 40, "rehearsal_fraction": 0.0},
                # answer-only targets: these tests are about the night's mechanics on a tiny student
                # (tests/integration/test_aspects.py covers the aspects, `academy bench distill` measures them)
                "distill": {
                    "steps": 400,
                    "learning_rate": 0.005,
                    "batch_size": 32,
                    "max_new_tokens": 12,
                    "aspects": ["response", "metrics"],
                }
                | distill,
                "gate": {"margin": 0.05, "max_regression": 0.05},
            },
        }
    )


def route(cfg: AcademyConfig, embedder, seed: int, n: int) -> list:
    examples = School(seed=seed, domains=[DOMAIN]).generate(n)

    async def run():
        runtime = Runtime.build(cfg, embedder=embedder)
        await runtime.start()  # as the server starts: stored evidence loaded, @production versions served
        try:
            results = await route_examples(runtime, examples, TENANT)
            return results, runtime.backends["student-1"].version
        finally:
            await runtime.aclose(close_embedder=False)

    return asyncio.run(run())
