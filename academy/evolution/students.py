"""Which student learns what tonight, from which weights, and how its version is recorded.

Everything here takes the registry as an argument (``registry.model_registry.ModelRegistry``), so
tasks wrap these functions thinly and tests pass a registry on a temporary SQLite store.
"""

from __future__ import annotations

import json
import re
import shutil
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from academy.config import AcademyConfig, GateConfig, ModelConfig
from academy.evolution.dataset import RETENTION_GAP
from academy.evolution.evaluation import EvalResult, Generate
from academy.evolution.gaps import GapReport
from academy.evolution.promotion import GateDecision
from academy.roles import PEER_ROLES
from registry.model_registry import ModelRegistry, VersionInfo

SPAWN = ""  # the assignment key of gaps no student covers


def local_students(cfg: AcademyConfig) -> list[ModelConfig]:
    """Configured hf students served from a local directory (not a models:/ URI)."""
    return [
        m
        for m in cfg.models
        if m.backend == "hf"
        and m.role != "teacher"
        and not str(m.options.get("path", "")).startswith("models:/")
    ]


def bootstrap_registry(registry: ModelRegistry, cfg: AcademyConfig) -> dict[str, int]:
    """Register each configured local student that the registry does not know yet as version 1 in
    production, so the router serves it from the registry and a rollback has somewhere to go."""
    known = set(registry.models())
    registered = {}
    for model in local_students(cfg):
        path = cfg.paths.resolve(str(model.options.get("path", f"students/{model.name}")))
        if model.name in known or not (path / "config.json").is_file():
            continue
        info = registry.register_student(
            model.name, path, role=model.role, params={"source": "configured local student"}, metrics={}
        )
        for stage in ("staging", "production"):
            registry.transition(model.name, info.version, stage, "bootstrap: the configured local student")
        registered[model.name] = info.version
    return registered


def production_dir(
    registry: ModelRegistry, cfg: AcademyConfig, student: str, cache: Path
) -> tuple[Path, VersionInfo | None]:
    """The weights ``student`` serves now: its @production version, else its configured directory."""
    info = registry.production(student) if student in registry.models() else None
    if info is not None:
        return registry.download(student, info.version, cache), info
    model = cfg.model(student)
    return cfg.paths.resolve(str(model.options.get("path", f"students/{student}"))), None


def assignments(report: GapReport) -> dict[str, list[int]]:
    """student -> the gap clusters it trains on tonight (``SPAWN`` for uncovered gaps)."""
    out: dict[str, list[int]] = defaultdict(list)
    for gap in report.selected:
        out[gap.best_student if gap.kind == "underperforming" and gap.best_student else SPAWN].append(
            gap.cluster
        )
    return dict(out)


def spawn_name(existing: list[str]) -> str:
    """The next free ``student-N`` name."""
    numbers = [int(m.group(1)) for name in existing if (m := re.fullmatch(r"student-(\d+)", name))]
    return f"student-{max(numbers, default=0) + 1}"


def new_names(taken: list[str]) -> Iterator[str]:
    """Free ``student-N`` names, in order, after every name in ``taken``."""
    names = list(taken)
    while True:
        name = spawn_name(names)
        names.append(name)
        yield name


def student_splits(
    splits: dict[str, datasets.Dataset], gaps: list[int], retention: bool
) -> tuple[datasets.Dataset, datasets.Dataset]:
    """(train, eval) rows of these gaps; plus the retention rows of well-served clusters when ``retention``."""
    wanted = set(gaps) | ({RETENTION_GAP} if retention else set())
    train = splits["train"]
    evaluation = splits["eval"]
    return (
        train.select([i for i, g in enumerate(train["gap"]) if g in wanted]),
        evaluation.select([i for i, g in enumerate(evaluation["gap"]) if g in set(gaps)]),
    )


def pick_peer(registry: ModelRegistry, student: str, cache: Path) -> Path | None:
    """A promoted peer (a TA or teacher-role student with a production version) to learn logits from."""
    peers = [m for m in registry.models() if m != student and registry.role(m) in PEER_ROLES]
    for name in sorted(peers, key=lambda m: (-PEER_ROLES.index(registry.role(m)), m)):
        info = registry.production(name)
        if info is not None:
            return registry.download(name, info.version, cache)
    return None


def rehearsal_file(cfg: AcademyConfig, student: str) -> Path | None:
    """Where ``student``'s warm-start pairs are kept: its configured directory's, or the first
    configured student's for a spawned one. None when no student is configured locally."""
    from academy.bootstrap import student_path
    from models.student import REHEARSAL_FILE

    local = {m.name: m for m in local_students(cfg)}
    model = local.get(student) or next(iter(local.values()), None)
    return None if model is None else student_path(cfg, model.name) / REHEARSAL_FILE


def rehearsal_pairs(cfg: AcademyConfig, student: str) -> list[tuple[str, str, str | None]]:
    """The warm-start pairs of ``student``'s configured directory (of the template student for a
    spawned one): what it knew before any night. Empty when none were kept."""
    path = rehearsal_file(cfg, student)
    if path is None or not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(row["query"], row["answer"], row.get("reasoning")) for row in rows]


def rehearsal_embeddings(
    cfg: AcademyConfig, student: str, pairs: list[tuple[str, str, str | None]]
) -> np.ndarray:
    """Embeddings of the rehearsal pairs' queries, cached beside the rehearsal file (they never change)."""
    from academy.embedder import Embedder

    rehearsal = rehearsal_file(cfg, student)
    cache = rehearsal.with_name(rehearsal.name + ".embeddings.npy")
    if cache.is_file():
        vectors = np.load(cache)
        if len(vectors) == len(pairs):
            return vectors
    with Embedder(cfg.embedder) as embedder:
        vectors = embedder.embed([q for q, *_ in pairs])
    np.save(cache, vectors)
    return vectors


def hf_generate(path: Path, max_new_tokens: int, batch_size: int = 64) -> Generate:
    """Greedy answers from a student directory, exactly as the router's hf backend serves them."""
    complete = hf_completions(path, max_new_tokens, batch_size)
    return lambda queries: [c.text for c in complete(queries)]


def hf_completions(path: Path, max_new_tokens: int, batch_size: int = 64) -> Callable[[list[str]], list[Any]]:
    """Like :func:`hf_generate`, but the whole completions (answer, reasoning, confidence)."""
    from academy.backends.hf import HFBackend

    backend = HFBackend(
        ModelConfig(
            name=path.name,
            backend="hf",
            price_in=0.0,
            price_out=0.0,
            options={"path": str(path.resolve()), "max_new_tokens": max_new_tokens, "batch_size": batch_size},
        )
    )
    return backend.generate


def promote_candidate(
    registry: ModelRegistry,
    name: str,
    version: int,
    decision: GateDecision,
    config: GateConfig,
    metrics: dict[str, float],
) -> str:
    """Record the gate's decision as stage transitions; returns the stage the version ends in."""
    if not decision.passed:
        registry.transition(name, version, "rejected", decision.summary, metrics)
        return "rejected"
    registry.transition(name, version, "staging", decision.summary, metrics)
    if not config.auto_production:
        return "staging"
    registry.transition(name, version, "production", "quality gate passed; auto_production", metrics)
    return "production"


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing: run the step that writes it first")
    return json.loads(path.read_text())


def eval_from_dict(data: dict[str, Any] | None) -> EvalResult | None:
    return None if data is None else EvalResult(**data)


def shard_answers(ids: list[str], completions: list[Any]) -> dict[str, dict[str, Any]]:
    """An evaluation shard's answers by query id, and the student's confidence in each."""
    return {
        "predictions": {i: c.text for i, c in zip(ids, completions)},
        "confidences": {i: c.confidence for i, c in zip(ids, completions) if c.confidence is not None},
    }


def merged_shards(shards: list[dict[str, Any]]) -> dict[str, tuple[dict[str, str], dict[str, float]]]:
    """Evaluation shards' answers merged per side: side -> (predictions, confidences)."""
    merged: dict[str, tuple[dict[str, str], dict[str, float]]] = defaultdict(lambda: ({}, {}))
    for shard in shards:
        merged[shard["side"]][0].update(shard["predictions"])
        merged[shard["side"]][1].update(shard.get("confidences", {}))
    return merged


CARRIED_DIR = "carried"


def carried_candidate(model: Path, incumbent_version: int | str | None) -> Path | None:
    """Last night's candidate of this student, to train on from tonight, when the gate refused it
    only for want of proof. Why: a night's steps on one day's traffic move a student a few points,
    which a gate on a few dozen held-out queries cannot tell from noise; if every night restarts
    from production, those steps are thrown away and the student never moves (seed 0: the
    generalist's candidate was refused six nights running, the last at +0.09 [0.01, 0.16] with
    p = 0.055; every night's new specialist started again from the generalist). Carried on, the
    gains add up until the gate can see them; the gate still compares against production, so
    nothing unproven serves.

    A student with a production version carries a candidate built on that version, measured no
    worse than it on its gaps, with no traffic cluster regressed. A spawned student not promoted
    yet (``incumbent_version`` None) carries its refused candidate: it has nothing else to start
    from but the generalist, and nothing serves it until the gate passes. Copied out of ``work``
    first, since tonight's training overwrites it. ``model``: the candidate's model folder, beside
    its ``train.json`` and ``promotion.json``."""
    work = model.parent
    try:
        record = json.loads((work / "train.json").read_text())
        promotion = json.loads((work / "promotion.json").read_text())
    except (OSError, ValueError):
        return None
    gate = promotion.get("gate") or {}
    if promotion.get("stage") != "rejected" or not (model / "config.json").is_file():
        return None
    if record.get("spawn"):
        if incumbent_version is not None:  # promoted since: production is where it starts
            return None
    elif (
        incumbent_version is None
        or str(record.get("incumbent_version")) != str(incumbent_version)
        or gate.get("difference") is None
        or gate["difference"] < 0
        or any(group.get("regressed") for group in gate.get("groups", []))
    ):
        return None
    carried = work / CARRIED_DIR
    shutil.rmtree(carried, ignore_errors=True)
    shutil.copytree(model, carried)
    return carried
