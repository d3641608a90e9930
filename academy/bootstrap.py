"""Creating what the embedded default needs on a fresh machine: a warm-started student and a
simulated paid provider. Kept out of the CLI so tests and the demo call the same code."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from academy.config import AcademyConfig, JudgeConfig
from academy.school import School


def student_path(cfg: AcademyConfig, name: str) -> Path:
    model = cfg.model(name)
    if model.backend != "hf":
        raise ValueError(
            f"model {name!r} uses backend {model.backend!r}; only hf students are created locally"
        )
    path = str(model.options.get("path", f"students/{name}"))
    if path.startswith("models:/"):
        raise ValueError(f"model {name!r} is served from the registry ({path}); nothing to create")
    return cfg.paths.resolve(path)


def init_student(
    cfg: AcademyConfig, name: str, force: bool = False, callbacks: Sequence[Any] = ()
) -> tuple[Path, dict[str, Any]]:
    """Train a tokenizer on school text, build the tiny Llama and warm-start it on school answers
    (``callbacks``: transformers ``TrainerCallback``s for the warm start, e.g. progress)."""
    from models.student import create_student

    path = student_path(cfg, name)
    if path.exists():
        if not force:
            raise FileExistsError(f"{path} exists; pass --force to replace it")
        shutil.rmtree(path)
    school = School(seed=cfg.school.seed, domains=cfg.school.domains)
    examples = school.generate(max(cfg.student.warm_start_examples, 500))
    corpus = [text for e in examples for text in (e.query, e.reference, e.reasoning or "")]
    # The tokenizer sees every school domain (a vocabulary, like a pretrained one); the warm start
    # only ``warm_start_domains``, so a domain left out is new to the student when traffic brings it.
    taught = {d: 1.0 for d in cfg.student.warm_start_domains or cfg.school.domains}
    # Taught in the format the nights use for the domain (``evolution.distill`` aspects): worked
    # reasoning then the answer where the aspects include reasoning, so rehearsal and nights agree.
    pairs = [
        (
            e.query,
            e.reference,
            e.reasoning if "reasoning" in cfg.evolution.distill.aspects_for(e.domain) else None,
        )
        for e in school.generate(cfg.student.warm_start_examples, mix=taught)
    ]
    create_student(
        path,
        cfg.student,
        corpus,
        warm_start=pairs if cfg.student.warm_start_steps else None,
        callbacks=callbacks,
    )
    meta = path / "student.json"
    return path, (json.loads(meta.read_text()) if meta.exists() else {})


def ensure_students(cfg: AcademyConfig, announce: Callable[[str], None] = print) -> list[Path]:
    """Create every configured local student that does not exist yet (make demo on a fresh machine);
    the warm start reports its progress and the time left, measured, through ``announce``."""
    created = []
    for model in cfg.models:
        local = model.backend == "hf" and not str(model.options.get("path", "")).startswith("models:/")
        if local and not student_path(cfg, model.name).exists():
            from models.progress import TrainingProgress

            announce(
                f"creating student {model.name}: local tokenizer, tiny Llama, "
                f"{cfg.student.warm_start_steps} warm-start SFT steps on school data "
                "(progress and the time left follow)"
            )
            progress = TrainingProgress(f"warm start {model.name}", report=announce)
            created.append(init_student(cfg, model.name, callbacks=[progress])[0])
    return created


def simulated_provider(cfg: AcademyConfig, malformed_rate: float = 0.0) -> FastAPI:
    """The simulated paid API: the reference teacher as model 'teacher', the reference judge as 'judge'."""
    from academy.backends import build_backend
    from academy.judges import build_judge
    from academy.sim_api import create_sim_app

    teacher = build_backend(cfg.teacher, home=cfg.paths.home)
    judge = build_judge(JudgeConfig(name="reference", cost_per_call=0.0), home=cfg.paths.home)
    return create_sim_app({"teacher": teacher}, {"judge": judge}, malformed_rate)
