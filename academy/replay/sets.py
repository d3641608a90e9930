"""Real LLM outcome data sets, loaded from ``../shared/data`` into one shape.

A :class:`ReplaySet` holds, for every query, each model's recorded quality score (0-1) and the
cost of one call to it. Prices follow the data: RouteLLM's sets have no costs, so a call costs 1
(strong, GPT-4) or 0.01 (weak, Mixtral), RouteLLM's 100:1 ratio; RouterBench records USD per
call; LLMRouter records USD per 1M tokens and no token counts, so a call is charged the query's
approximate token count at the input and the output price.

Each loader drops RouteLLM's contaminated prompts (those overlapping its training data) and
duplicate prompts (the replay looks outcomes up by normalised query text).
"""

from __future__ import annotations

import ast
import csv
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from academy.backends.base import approx_tokens
from academy.school import normalize_query

STRONG = "gpt-4-1106-preview"
MIXTRAL = "mistralai/Mixtral-8x7B-Instruct-v0.1"
WEAK_CALL_COST = 0.01  # RouteLLM's price ratio strong:weak = 100:1 per call
DEFAULT_DATA_DIR = Path("../shared/data")


class ReplayDataError(ValueError):
    """A data file is missing or malformed; the message names it."""


@dataclass
class ReplaySet:
    """Queries x models: recorded quality (0-1, NaN = not recorded) and cost per call."""

    name: str
    queries: list[str]
    models: list[str]
    scores: np.ndarray  # (n_queries, n_models)
    costs: np.ndarray  # (n_queries, n_models)
    groups: list[str]  # subject / task of each query (reporting only; the router never sees it)
    strong: str  # the reference model: quality targets and cost ratios are relative to it
    weak: str | None = None  # set for RouteLLM's two-model sets (APGR, CPT)
    cost_unit: str = "USD"
    answers: list[dict[str, str]] = field(default_factory=list)  # recorded responses, when the data has them
    dropped: dict[str, int] = field(default_factory=dict)  # why rows were left out, and how many
    # Logged traffic from before the measured stream (the data set's train split, its outcomes
    # already paid for): the router starts from it as from yesterday's store. None = cold start.
    prior: ReplaySet | None = None

    def __post_init__(self) -> None:
        if (
            self.scores.shape != (len(self.queries), len(self.models))
            or self.costs.shape != self.scores.shape
        ):
            raise ReplayDataError(f"{self.name}: scores/costs do not match {len(self.queries)} queries")

    def __len__(self) -> int:
        return len(self.queries)

    def column(self, model: str) -> int:
        return self.models.index(model)

    def mean_quality(self, model: str) -> float:
        return float(np.nanmean(self.scores[:, self.column(model)]))

    def mean_cost(self, model: str) -> float:
        return float(np.mean(self.costs[:, self.column(model)]))

    def subset(self, rows: np.ndarray, name: str | None = None) -> ReplaySet:
        rows = np.asarray(rows)
        return ReplaySet(
            name or self.name,
            [self.queries[i] for i in rows],
            self.models,
            self.scores[rows],
            self.costs[rows],
            [self.groups[i] for i in rows],
            self.strong,
            self.weak,
            self.cost_unit,
            [self.answers[i] for i in rows] if self.answers else [],
            dict(self.dropped),
        )

    def write_outcomes(self, path: Path) -> Path:
        """The JSONL the ``replay`` backends and the ``recorded`` judge read (academy/outcomes.py)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8") as out:
            for i, query in enumerate(self.queries):
                outcomes = {
                    model: {
                        "answer": (self.answers[i].get(model) if self.answers else None) or f"[{model}]",
                        "score": None if np.isnan(self.scores[i, j]) else float(self.scores[i, j]),
                        "cost": float(self.costs[i, j]),
                    }
                    for j, model in enumerate(self.models)
                }
                out.write(json.dumps({"query": query, "outcomes": outcomes}) + "\n")
        return path


# -- RouteLLM: GPT-4 vs Mixtral ---------------------------------------------------------------


def _contaminated(data_dir: Path, name: str) -> set[str]:
    path = data_dir / "routellm" / f"{name}_contaminated_prompts.jsonl"
    rows = [json.loads(line) for line in _read_lines(path)]
    return {normalize_query(row["eval_prompt"]) for row in rows}


def _two_model_set(
    name: str, prompts: list[str], correct: list[tuple[float, float]], groups: list[str], data_dir: Path
) -> ReplaySet:
    """GPT-4 and Mixtral outcomes as a two-model set; contaminated and duplicate prompts dropped."""
    contaminated = _contaminated(data_dir, name)
    keep, seen, dropped = [], set(), {"contaminated": 0, "duplicate": 0}
    for i, prompt in enumerate(prompts):
        key = normalize_query(prompt)
        reason = "contaminated" if key in contaminated else "duplicate" if key in seen else None
        if reason:
            dropped[reason] += 1
            continue
        seen.add(key)
        keep.append(i)
    scores = np.array([correct[i] for i in keep], dtype=float)
    costs = np.tile([1.0, WEAK_CALL_COST], (len(keep), 1))
    return ReplaySet(
        name,
        [prompts[i] for i in keep],
        [STRONG, MIXTRAL],
        scores,
        costs,
        [groups[i] for i in keep],
        strong=STRONG,
        weak=MIXTRAL,
        cost_unit="GPT-4 calls",
        dropped=dropped,
    )


def load_mmlu(data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    folder = data_dir / "routellm" / "mmlu_responses"
    files = sorted(folder.glob("mmlu_*.csv"))
    if not files:
        raise ReplayDataError(f"no MMLU response files under {folder}")
    prompts, correct, groups = [], [], []
    for path in files:
        for row in _read_csv(path):
            prompts.append(row["prompt"])
            correct.append((_bool(row[STRONG]), _bool(row[MIXTRAL])))
            groups.append(path.stem.removeprefix("mmlu_"))
    return _two_model_set("mmlu", prompts, correct, groups, data_dir)


def load_gsm8k(data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    rows = _read_csv(data_dir / "routellm" / "gsm8k_responses.csv")
    prompts = [row["prompt"] for row in rows]
    correct = [(_bool(row[STRONG]), _bool(row[MIXTRAL])) for row in rows]
    return _two_model_set("gsm8k", prompts, correct, ["gsm8k"] * len(rows), data_dir)


def load_mt_bench(data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    """Quality = the GPT-4 judge's score (1-10) / 10, averaged over the question's two turns.
    The router sees the first turn, as RouteLLM routes a conversation on its first prompt."""
    questions = {
        row["question_id"]: row
        for row in map(json.loads, _read_lines(data_dir / "mt_bench" / "question.jsonl"))
    }
    turn_scores: dict[tuple[int, str], list[float]] = {}
    for row in map(json.loads, _read_lines(data_dir / "routellm" / "mt_bench_judgements.jsonl")):
        turn_scores.setdefault((row["question_id"], row["model"]), []).append(float(row["score"]) / 10)
    ids = sorted(questions)
    prompts = [questions[q]["turns"][0] for q in ids]
    correct = [tuple(float(np.mean(turn_scores[(q, m)])) for m in (STRONG, MIXTRAL)) for q in ids]
    return _two_model_set("mt_bench", prompts, correct, [questions[q]["category"] for q in ids], data_dir)


# -- RouterBench: 11 models with recorded USD cost ----------------------------------------------

ROUTERBENCH_TASKS = ("arc_challenge", "mbpp", "winograde")


def load_routerbench(data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    """RouterDC's test split of RouterBench (0-shot), the three tasks pooled; its train split is the
    prior traffic (rows whose prompt is also in the test split left out)."""
    test = _load_routerbench_split(data_dir, "test")
    test.prior = _without(_load_routerbench_split(data_dir, "train"), test)
    return test


def _without(prior: ReplaySet, measured: ReplaySet) -> ReplaySet:
    """``prior`` minus every query that ``measured`` holds (no test query is seen beforehand)."""
    held = {normalize_query(q) for q in measured.queries}
    keep = np.array([i for i, q in enumerate(prior.queries) if normalize_query(q) not in held], dtype=int)
    kept = prior.subset(keep, f"{prior.name}-prior")
    kept.dropped["in_test_split"] = len(prior) - len(keep)
    return kept


def _load_routerbench_split(data_dir: Path, split: str) -> ReplaySet:
    queries, scores, costs, groups, answers = [], [], [], [], []
    models: list[str] = []
    seen, dropped = set(), {"duplicate": 0}
    for task in ROUTERBENCH_TASKS:
        rows = _read_csv(data_dir / "routerbench_subset" / f"{task}_{split}.csv")
        models = models or [c.removesuffix("|total_cost") for c in rows[0] if c.endswith("|total_cost")]
        for row in rows:
            query = _first_prompt(row["prompt"])
            if normalize_query(query) in seen:
                dropped["duplicate"] += 1
                continue
            seen.add(normalize_query(query))
            queries.append(query)
            scores.append([_float(row[m]) for m in models])
            costs.append([_float(row[f"{m}|total_cost"]) for m in models])
            answers.append({m: _first_prompt(row.get(f"{m}|model_response", "")) for m in models})
            groups.append(task)
    return ReplaySet(
        "routerbench",
        queries,
        models,
        np.array(scores),
        np.nan_to_num(np.array(costs)),
        groups,
        strong=STRONG,
        answers=answers,
        dropped=dropped,
    )


# -- LLMRouter: 9 open models, prices per token ------------------------------------------------


LLMROUTER_PRIOR_ROWS = 2000  # of its 5,608 train rows: embedding all of them costs a minute more


def load_llmrouter(data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    """LLMRouter's test split; the first ``LLMROUTER_PRIOR_ROWS`` train rows are the prior traffic."""
    test = _load_llmrouter_split(data_dir, "test")
    train = _load_llmrouter_split(data_dir, "train")
    test.prior = _without(train.subset(np.arange(min(LLMROUTER_PRIOR_ROWS, len(train)))), test)
    return test


def _load_llmrouter_split(data_dir: Path, split: str) -> ReplaySet:
    folder = data_dir / "llmrouter"
    prices = json.loads(_read_text(folder / "default_llm.json"))
    rows = json.loads(_read_text(folder / f"dcrouter_{split}.json"))
    tasks = {
        normalize_query(row["query"]): row["task_name"]
        for row in map(json.loads, _read_lines(folder / "default_query_test.jsonl"))
    }
    models = sorted(rows[0]["scores"])
    queries, scores, costs, groups, seen, dropped = [], [], [], [], set(), {"duplicate": 0}
    for row in rows:
        key = normalize_query(row["question"])
        if key in seen:
            dropped["duplicate"] += 1
            continue
        seen.add(key)
        tokens = approx_tokens(row["question"])
        queries.append(row["question"])
        scores.append([float(row["scores"].get(m, np.nan)) for m in models])
        costs.append([tokens * (prices[m]["input_price"] + prices[m]["output_price"]) / 1e6 for m in models])
        groups.append(tasks.get(key, "unknown"))
    strong = max(models, key=lambda m: np.nanmean([s[models.index(m)] for s in scores]))
    return ReplaySet(
        "llmrouter",
        queries,
        models,
        np.array(scores),
        np.array(costs),
        groups,
        strong=strong,
        dropped=dropped,
    )


SETS: dict[str, Callable[[Path], ReplaySet]] = {
    "mmlu": load_mmlu,
    "gsm8k": load_gsm8k,
    "mt_bench": load_mt_bench,
    "routerbench": load_routerbench,
    "llmrouter": load_llmrouter,
}


def load_set(name: str, data_dir: Path = DEFAULT_DATA_DIR) -> ReplaySet:
    if name not in SETS:
        raise ReplayDataError(f"unknown data set {name!r}; known: {', '.join(SETS)}")
    return SETS[name](data_dir)


# -- file helpers: every failure names the file --------------------------------------------------


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReplayDataError(f"cannot read {path}: {exc.strerror}") from None


def _read_lines(path: Path) -> list[str]:
    return [line for line in _read_text(path).splitlines() if line.strip()]


def _read_csv(path: Path) -> list[dict[str, str]]:
    csv.field_size_limit(1 << 30)
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle))
    except OSError as exc:
        raise ReplayDataError(f"cannot read {path}: {exc.strerror}") from None


def _bool(value: str) -> float:
    return 1.0 if value.strip() == "True" else 0.0


def _float(value: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _first_prompt(value: str) -> str:
    """RouterBench stores prompts and responses as the repr of a Python list of strings."""
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return value
    return str(parsed[0]) if isinstance(parsed, list) and parsed else str(parsed)
