"""``academy bench distill``: which aspects of the teacher's knowledge pay off, per school domain.

Every variant is ``academy.evolution.training.distill_student`` with a different
``DistillConfig`` (aspects, steps): the nightly code, not a copy. All of them start from the same
fresh student (one tokenizer, one initialisation) and train on the same frozen distillation
dataset, in the nightly schema (``evolution.dataset.to_dataset``):

- ``noisy``: the reference teacher with ``teacher_error_rate`` wrong answers (its reasoning ends
  with the wrong answer too), each winner scored by the configured judge; the everyday case.
- ``clean``: the same queries answered without errors; the control that prices the label noise.

Held-out queries are new *operands*, not only new wording: a query is held out when the hash of
its operand key is (arithmetic: the operand pair and operation; sorting and comparison: the set of
numbers; units: amount and unit pair; reversal: the word). Capitals is the exception: a country
never seen cannot be answered by any procedure, so it is held out by query text (new wording of
known countries). Exact match is scored against the school's gold answer, on the served answer only
(``extract_answer``: the reasoning is cut off).

The budget: every SFT variant gets ``steps`` optimizer steps; ``response@equal-time`` gets as
many steps as fit in the wall time ``reasoning+metrics`` took; peer variants spend the same total
steps (all on logits, or ``steps - peer_steps`` SFT then ``peer_steps`` logits). Steps and wall
time are reported for each.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import datasets
import pandas as pd

from academy.backends import build_backend
from academy.backends.reference import unit_draw
from academy.config import AcademyConfig, DistillConfig, ModelConfig
from academy.evolution.dataset import to_dataset, training_examples
from academy.evolution.evaluation import metric_safe
from academy.evolution.students import hf_generate
from academy.evolution.training import distill_student
from academy.judges import build_judge
from academy.judges.base import JudgeRequest
from academy.judges.reference import reference_scores
from academy.school import Example, School
from registry.model_registry import PARENT_RUN_TAG, ModelRegistry

RESULTS_FILE, REPORT_FILE = "results.json", "report.md"


@dataclass(frozen=True)
class Variant:
    """One training recipe. ``budget``: ``steps`` (SFT for the budget), ``equal_time`` (SFT for the
    wall time of ``reasoning+metrics``), ``peer_only`` (logits of the peer for the budget, from the
    fresh student), ``sft_then_peer`` (SFT, then ``peer_steps`` of the budget on logits)."""

    name: str
    aspects: tuple[str, ...]
    about: str
    data: str = "noisy"
    budget: str = "steps"


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("response", ("response",), "SFT on the winning answer"),
        Variant("response+metrics", ("response", "metrics"), "... weighted by the judge, low scores dropped"),
        Variant("reasoning", ("reasoning",), "SFT on the worked reasoning, then the answer"),
        Variant("reasoning+metrics", ("reasoning", "metrics"), "... weighted by the judge, low scores dropped"),
        Variant("reasoning@clean", ("reasoning",), "reasoning, teacher without errors (control)", "clean"),
        Variant("response@equal-time", ("response",), "response for reasoning+metrics' wall time", budget="equal_time"),
        Variant("peer", ("reasoning", "metrics", "peer"), "peer logits only (alpha 1), fresh student", budget="peer_only"),
        Variant("reasoning+metrics+peer", ("reasoning", "metrics", "peer"), "SFT, then the peer's logits", budget="sft_then_peer"),
    )
}  # fmt: skip
TIMED_REFERENCE = ("response", "reasoning+metrics")  # equal_time needs both measured first
PEER_CANDIDATES = ("response", "response+metrics", "reasoning", "reasoning+metrics")


# ---- the frozen data ------------------------------------------------------------------------------


def operand_key(example: Example) -> str:
    """What a held-out query must not share with any training query (see the module docstring)."""
    numbers = re.findall(r"\d+", example.query)
    if example.domain == "arithmetic":
        a, b = (int(n) for n in numbers[:2])
        return f"{a}|{b}|{'+' if a + b == int(example.reference) else '-'}"
    if example.domain in ("sorting", "compare"):
        return ",".join(sorted(numbers, key=int))
    if example.domain == "units":
        return example.reasoning or example.query  # "1 hour = 60 minutes; 9 * 60 = 540": amount and units
    if example.domain == "reverse":
        return example.reference
    return " ".join(example.query.lower().split())  # capitals: new wording of known countries


@dataclass
class Split:
    train: list[Example]
    test: dict[str, list[Example]]


def split_by_operands(
    school: School, domains: Sequence[str], n_train: int, n_test: int, fraction: float, seed: int
) -> Split:
    """Up to ``n_train`` training and ``n_test`` held-out queries per domain, distinct by text,
    with the held-out side's operand keys never seen in training."""
    train: list[Example] = []
    test: dict[str, list[Example]] = {}
    for domain in domains:
        seen: set[str] = set()
        held: list[Example] = []
        taught: list[Example] = []
        for example in school.generate_domain(domain, 12 * (n_train + n_test), seed=seed):
            text = " ".join(example.query.lower().split())
            if text in seen:
                continue
            seen.add(text)
            side = held if unit_draw(seed, "holdout", domain, operand_key(example)) < fraction else taught
            side.append(example)
        train += taught[:n_train]
        test[domain] = held[:n_test]
    return Split(train, test)


def teacher_dataset(
    cfg: AcademyConfig, examples: list[Example], error_rate: float, seed: int
) -> datasets.Dataset:
    """The distillation dataset the nightly flow would build from this traffic: the reference
    teacher's answers and reasoning (``error_rate`` of them wrong), scored by the configured judge."""
    teacher = build_backend(
        ModelConfig(
            name="teacher",
            backend="reference",
            role="teacher",
            price_in=0.0,
            price_out=0.0,
            options={"error_rate": error_rate, "reasoning": True, "seed": seed},
        ),
        cfg.paths.home,
    )
    queries = [e.query for e in examples]
    completions = asyncio.run(teacher.agenerate(queries))
    judge = build_judge(cfg.judge, cfg.paths.home)
    judgements = asyncio.run(
        judge.ajudge([JudgeRequest(q, c.text) for q, c in zip(queries, completions, strict=True)])
    )
    rows = pd.DataFrame(
        {
            "query_id": [f"q{i}" for i in range(len(examples))],
            "query": queries,
            "answer": [c.text for c in completions],
            "reasoning": [c.reasoning for c in completions],
            "weight": [j.score if j.score is not None else 0.0 for j in judgements],
            "domain": [e.domain for e in examples],
            "cluster": 0,
            "gap": 0,
            "student": "",
            "source_model": "teacher",
            "order": [unit_draw(seed, "order", q) for q in queries],
        }
    )
    return to_dataset(rows)


def fresh_student(cfg: AcademyConfig, out: Path, split: Split, seed: int) -> Path:
    """The one starting point of every variant: a tokenizer trained on the queries, answers and
    reasoning of the training split, and untrained weights (no warm start)."""
    from models.student import create_student

    corpus = [text for e in split.train for text in (e.query, e.reference, e.reasoning or "")]
    student = cfg.student.model_copy(update={"warm_start_steps": 0})
    return create_student(out, student, corpus, seed=seed)


# ---- training and evaluation ----------------------------------------------------------------------


def variant_config(
    variant: Variant, base: DistillConfig, steps: int, peer_steps: int, learning_rate: float
) -> DistillConfig:
    """The nightly ``DistillConfig`` with this variant's aspects and budget (every domain alike).
    A fresh student learns at ``learning_rate``, from tokens or, peer-only, from logits; after SFT
    the peer stage keeps the nightly ``peer_learning_rate``."""
    update: dict[str, Any] = {
        "aspects": list(variant.aspects),
        "domain_aspects": {},
        "steps": steps,
        "learning_rate": learning_rate,
    }
    if variant.budget == "peer_only":
        update |= {"steps": 0, "peer_steps": steps, "peer_alpha": 1.0, "peer_learning_rate": learning_rate}
    elif variant.budget == "sft_then_peer":
        update |= {"steps": steps - peer_steps, "peer_steps": peer_steps}
    else:
        update["peer_steps"] = 0
    return DistillConfig.model_validate(base.model_dump() | update)


def exact_match(path: Path, tests: dict[str, list[Example]], max_new_tokens: int) -> dict[str, float]:
    """Normalised exact match of the served answer against the gold answer, per domain."""
    generate = hf_generate(path, max_new_tokens)
    scores = {}
    for domain, examples in tests.items():
        answers = generate([e.query for e in examples])
        em = reference_scores(answers, [e.reference for e in examples], em_weight=1.0)
        scores[domain] = round(sum(em) / len(em), 4) if em else 0.0
    return scores


@dataclass
class VariantResult:
    name: str
    about: str
    aspects: list[str]
    data: str
    steps: int
    peer_steps: int
    train_seconds: float
    sft_rows: int
    exact_match: dict[str, float]
    peer: str | None = None
    losses: dict[str, list[float]] = field(default_factory=dict, repr=False)

    @property
    def mean(self) -> float:
        return round(sum(self.exact_match.values()) / max(len(self.exact_match), 1), 4)


def train_variant(
    cfg: AcademyConfig,
    variant: Variant,
    base: Path,
    data: dict[str, datasets.Dataset],
    config: DistillConfig,
    work: Path,
    peer: Path | None,
) -> tuple[Path, dict[str, Any], int]:
    """Distill one variant from the fresh student; returns its folder, stats and SFT rows."""
    examples = training_examples(data[variant.data], config, cfg.evolution.dataset.confidence_threshold)
    out = work / variant.name
    shutil.rmtree(out, ignore_errors=True)
    stats = distill_student(base, out, examples, config, cfg.student.max_length, peer)
    return out, stats, len(examples.sft)


# ---- the run --------------------------------------------------------------------------------------


def run_distill_bench(
    cfg: AcademyConfig, names: Sequence[str] | None = None, log: Callable[[str], None] = lambda _: None
) -> dict[str, Any]:
    """Train and evaluate the chosen variants (all by default); write ``results.json`` and
    ``report.md`` under ``distill_bench.out``, log one MLflow parent run with a child per variant."""
    bench = cfg.distill_bench
    chosen = [VARIANTS[n] for n in (names or bench.variants)]
    started = time.perf_counter()
    split = split_by_operands(
        School(seed=bench.seed, domains=bench.domains),
        bench.domains,
        bench.train_per_domain,
        bench.test_per_domain,
        bench.holdout_fraction,
        bench.seed,
    )
    datasets.disable_progress_bars()
    need = {v.data for v in chosen}
    rates = {"noisy": bench.teacher_error_rate, "clean": 0.0}
    data = {name: teacher_dataset(cfg, split.train, rates[name], bench.seed) for name in need}
    work = bench.out / "work"
    base = fresh_student(cfg, work / "base", split, bench.seed)
    log(f"data: {len(split.train)} training queries, {sum(map(len, split.test.values()))} held out")
    results: dict[str, VariantResult] = {}
    folders: dict[str, Path] = {}
    for variant in chosen:
        result = _run_variant(cfg, variant, base, data, split, results, folders, work)
        if result is None:
            log(f"{variant.name}: skipped ({_missing(variant)})")
            continue
        results[variant.name] = result
        log(
            f"{variant.name}: {result.steps}+{result.peer_steps} steps, {result.train_seconds:.0f} s, mean EM {result.mean:.3f}"
        )
    report = _report(cfg, split, data, results, time.perf_counter() - started)
    _write(bench.out, report)
    report["mlflow_run"] = log_to_mlflow(cfg, report)
    return report


def _missing(variant: Variant) -> str:
    if variant.budget == "equal_time":
        return f"needs {' and '.join(TIMED_REFERENCE)} in the same run"
    return f"needs one of {', '.join(PEER_CANDIDATES)} in the same run as its peer"


def _run_variant(
    cfg: AcademyConfig,
    variant: Variant,
    base: Path,
    data: dict[str, datasets.Dataset],
    split: Split,
    results: dict[str, VariantResult],
    folders: dict[str, Path],
    work: Path,
) -> VariantResult | None:
    bench = cfg.distill_bench
    steps, peer = bench.steps, None
    if variant.budget == "equal_time":
        if not all(n in results for n in TIMED_REFERENCE):
            return None
        response, reference = (results[n] for n in TIMED_REFERENCE)
        steps = max(1, round(response.steps * reference.train_seconds / response.train_seconds))
    if variant.budget in ("peer_only", "sft_then_peer"):
        candidates = [results[n] for n in PEER_CANDIDATES if n in results]
        if not candidates:
            return None
        best = max(candidates, key=lambda r: r.mean)
        peer = folders[best.name]
    config = variant_config(variant, cfg.evolution.distill, steps, bench.peer_steps, bench.learning_rate)
    folder, stats, rows = train_variant(cfg, variant, base, data, config, work, peer)
    folders[variant.name] = folder
    return VariantResult(
        name=variant.name,
        about=variant.about,
        aspects=list(variant.aspects),
        data=variant.data,
        steps=config.steps,
        peer_steps=config.peer_steps if peer else 0,
        train_seconds=stats["train_seconds"],
        sft_rows=rows,
        exact_match=exact_match(folder, split.test, bench.max_new_tokens),
        peer=peer.name if peer else None,
        losses={
            "sft": (stats["sft"] or {}).get("history", []),
            "peer": (stats["peer"] or {}).get("history", []),
        },
    )


def _report(
    cfg: AcademyConfig,
    split: Split,
    data: dict[str, datasets.Dataset],
    results: dict[str, VariantResult],
    seconds: float,
) -> dict[str, Any]:
    bench = cfg.distill_bench
    noisy = data.get("noisy")
    threshold = cfg.evolution.dataset.confidence_threshold
    return {
        "settings": json.loads(bench.model_dump_json()) | {"student": cfg.student.model_dump()},
        "data": {
            "train": len(split.train),
            "test": {d: len(e) for d, e in split.test.items()},
            "noisy_below_threshold": sum(w < threshold for w in noisy["weight"]) if noisy else None,
        },
        "variants": {
            name: {k: v for k, v in asdict(r).items() if k != "losses"} | {"mean": r.mean}
            for name, r in results.items()
        },
        "losses": {name: r.losses for name, r in results.items()},
        "seconds": round(seconds, 1),
    }


def _write(out: Path, report: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / RESULTS_FILE).write_text(
        json.dumps({k: v for k, v in report.items() if k != "losses"}, indent=2) + "\n"
    )
    (out / REPORT_FILE).write_text(format_table(report) + "\n")


def log_to_mlflow(cfg: AcademyConfig, report: dict[str, Any]) -> str:
    """One parent run (settings, the table) and one child run per variant (its budget, per-domain
    exact match, loss curves); returns the parent's run id."""
    registry = ModelRegistry.from_config(cfg)
    settings = report["settings"]
    parent = registry.log_run(
        "distill-bench",
        params={k: v for k, v in settings.items() if k not in ("student", "out")},
        metrics={f"mean_exact_match.{metric_safe(n)}": v["mean"] for n, v in report["variants"].items()},
        text_artifacts={
            REPORT_FILE: format_table(report),
            RESULTS_FILE: json.dumps(report["variants"], indent=2),
        },
        tags={"academy.kind": "distill-bench"},
    )
    for name, variant in report["variants"].items():
        registry.log_run(
            name,
            params={k: variant[k] for k in ("aspects", "data", "steps", "peer_steps", "peer", "sft_rows")},
            metrics={"train_seconds": variant["train_seconds"], "mean_exact_match": variant["mean"]}
            | {f"exact_match.{d}": v for d, v in variant["exact_match"].items()},
            tags={PARENT_RUN_TAG: parent, "academy.kind": "distill-bench"},
            step_metrics={f"{stage}_loss": h for stage, h in report["losses"][name].items() if h},
        )
    return parent


def format_table(report: dict[str, Any]) -> str:
    """A markdown table: one row per variant, held-out exact match per domain, steps and seconds."""
    variants = report["variants"]
    domains = list(report["data"]["test"])
    header = ["variant", "data", "steps", "train s", *domains, "mean"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, v in variants.items():
        steps = f"{v['steps']}+{v['peer_steps']} peer" if v["peer_steps"] else str(v["steps"])
        cells = [name, v["data"], steps, f"{v['train_seconds']:.0f}"]
        cells += [f"{100 * v['exact_match'][d]:.1f}" for d in domains] + [f"{100 * v['mean']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    tests = ", ".join(f"{d} {n}" for d, n in report["data"]["test"].items())
    return "\n".join(lines) + f"\n\nHeld-out queries per domain: {tests}. Exact match in %."
