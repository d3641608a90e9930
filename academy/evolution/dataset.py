"""Distillation datasets: what the winners said, turned into prompt/completion pairs.

For each selected gap, the winning answer of every query (its best judged answer) becomes a
training example carrying that judge score as ``weight``. Every aspect of it is kept, so training
can choose (``DistillConfig.aspects``, per domain): ``completion`` is the answer alone,
``completion_reasoning`` the winner's rationale then the answer (``models.student.format_target``),
``weight`` the judge's confidence. Low-confidence winners stay in ``train`` (the ``metrics`` aspect
drops or down-weights them at training time) but never label ``eval`` or ``regression`` queries.
Queries are deduplicated by their normalised text and split into train/eval by a hash of that text,
so a query (and all its paraphrase-identical copies) is on one side only, on every night.
``regression.parquet`` holds held-out queries of every domain: the gate checks that a candidate
forgets nothing. Written as Parquet from ``datasets.Dataset``: same snapshot, same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd
import pyarrow.parquet as pq

from academy.backends.reference import unit_draw
from academy.config import DatasetConfig, DistillConfig
from academy.evolution.gaps import GapReport
from academy.evolution.paraphrase import Logged, paraphrases
from academy.evolution.scoring import winners
from academy.evolution.snapshot import UNKNOWN_DOMAIN, Snapshot
from academy.judges.base import AGREEMENT_JUDGE
from academy.school import normalize_query
from models.student import format_prompt, format_target

TRAIN_FILE, EVAL_FILE, REGRESSION_FILE = "train.parquet", "eval.parquet", "regression.parquet"
DATASET_FILES = (TRAIN_FILE, EVAL_FILE, REGRESSION_FILE)
RETENTION_GAP = -1  # ``gap`` of retention rows: examples from well-served clusters, against forgetting
COLUMNS = [
    "query_id", "query", "prompt", "completion", "completion_reasoning", "answer", "reasoning",
    "weight", "domain", "cluster", "gap", "student", "source_model",
]  # fmt: skip


def trusted_teacher_answers(answers: pd.DataFrame, threshold: float = 0.0) -> pd.DataFrame:
    """Served, unjudged teacher answers scored with their model's mean judged score (its track
    record), kept when that clears ``threshold``. A judged answer of the same query ranks first."""
    teachers = answers[(answers["role"] == "teacher") & answers["error"].isna()]
    track_record = teachers.dropna(subset=["judge_score"]).groupby("model")["judge_score"].mean()
    served = teachers[teachers["judge_score"].isna() & (teachers["purpose"] == "serve")]
    served = served.assign(judge_score=served["model"].map(track_record))
    return served[served["judge_score"] >= threshold]


def winning_examples(snapshot: Snapshot, clusters: pd.Series, config: DatasetConfig) -> pd.DataFrame:
    """One row per distinct query: its best judged answer (whatever its score), and its split."""
    # Answers scored only by agreement with the teacher's are routing evidence, not teaching
    # material: the teacher's own answer (with its reasoning) teaches that query.
    best = winners(snapshot.answers[snapshot.answers["judge_name"] != AGREEMENT_JUDGE])
    if config.trust_unjudged_teacher:
        best = pd.concat([best, trusted_teacher_answers(snapshot.answers)])
    best = best.sort_values(["query_id", "judge_score", "cost", "model"], ascending=[True, False, True, True])
    best = best.drop_duplicates("query_id")
    queries = snapshot.queries[["id", "text", "domain"]].rename(columns={"id": "query_id", "text": "query"})
    rows = best.merge(queries, on="query_id", how="inner")
    rows["normalized"] = rows["query"].map(normalize_query)
    rows = rows.sort_values(["normalized", "query_id"]).drop_duplicates("normalized")
    rows["cluster"] = rows["query_id"].map(clusters).astype("int64")
    rows["domain"] = rows["domain"].fillna(UNKNOWN_DOMAIN)
    rows["split"] = [
        "eval" if unit_draw(config.seed, "split", q) < config.eval_fraction else "train"
        for q in rows["normalized"]
    ]
    rows["order"] = [unit_draw(config.seed, "order", q) for q in rows["normalized"]]
    return rows.rename(columns={"text": "answer", "model": "source_model", "judge_score": "weight"})


def build_distillation_dataset(
    snapshot: Snapshot, clusters: pd.Series, gaps: GapReport, config: DatasetConfig
) -> dict[str, datasets.Dataset]:
    """``train`` (gap examples plus retention rows), ``eval`` (held-out gap queries), ``regression``.
    Only winners judged at least ``confidence_threshold`` label the two held-out sets."""
    rows = winning_examples(snapshot, clusters, config)
    trusted = rows["weight"] >= config.confidence_threshold
    owner = {g.cluster: g.best_student or "" for g in gaps.selected}
    in_gap = rows["cluster"].isin(owner)
    gap_rows = rows[in_gap].assign(gap=lambda r: r["cluster"], student=lambda r: r["cluster"].map(owner))
    train = gap_rows[gap_rows["split"] == "train"]
    retention_pool = rows[~in_gap & (rows["split"] == "train")].sort_values("order")
    retention = retention_pool.head(round(len(train) * config.retention_fraction)).assign(
        gap=RETENTION_GAP, student=""
    )
    regression = (
        rows[(rows["split"] == "eval") & trusted]
        .sort_values("order")
        .groupby("cluster")  # clusters learned from the text: what real traffic carries
        .head(config.regression_per_cluster)
    )
    return {
        "train": to_dataset(pd.concat([train, retention])),
        "eval": to_dataset(gap_rows[(gap_rows["split"] == "eval") & trusted[in_gap]]),
        "regression": to_dataset(regression.assign(gap=RETENTION_GAP, student="")),
    }


def to_dataset(rows: pd.DataFrame) -> datasets.Dataset:
    rows = rows.sort_values(["gap", "order", "query_id"]) if len(rows) else rows
    reasoning = [r if isinstance(r, str) and r.strip() else None for r in rows.get("reasoning", [])]
    frame = pd.DataFrame(
        {
            "query_id": rows["query_id"].astype(str).tolist(),
            "query": rows["query"].tolist(),
            "prompt": [format_prompt(q) for q in rows["query"]],
            "completion": [format_target(a) for a in rows["answer"]],
            "completion_reasoning": [
                format_target(a, r) if r else None for a, r in zip(rows["answer"], reasoning)
            ],
            "answer": rows["answer"].tolist(),
            "reasoning": reasoning,
            "weight": rows["weight"].astype(float).round(6).tolist(),
            "domain": rows["domain"].tolist(),
            "cluster": rows["cluster"].astype("int64").tolist(),
            "gap": rows["gap"].astype("int64").tolist(),
            "student": rows["student"].astype(str).tolist(),
            "source_model": rows["source_model"].astype(str).tolist(),
        },
        columns=COLUMNS,
    )
    features = datasets.Features(
        {
            **{c: datasets.Value("string") for c in COLUMNS},
            "weight": datasets.Value("float64"),
            "cluster": datasets.Value("int64"),
            "gap": datasets.Value("int64"),
        }
    )
    return datasets.Dataset.from_pandas(frame, features=features, preserve_index=False)


def write_datasets(out_dir: Path, splits: dict[str, datasets.Dataset]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    names = {"train": TRAIN_FILE, "eval": EVAL_FILE, "regression": REGRESSION_FILE}
    for split, data in splits.items():
        data.to_parquet(str(out_dir / names[split]))


def read_datasets(out_dir: Path) -> dict[str, datasets.Dataset]:
    """The night's splits, read into memory with pyarrow (features from the files' own metadata).

    Not ``Dataset.from_parquet``: that goes through the datasets builder and its on-disk cache, and
    once in the test suite it found no data in a file just written ("Instruction "train"
    corresponds to no data!"). The splits are small, so the cache saves nothing."""
    missing = [n for n in DATASET_FILES if not (out_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(f"{out_dir} lacks {', '.join(missing)}; run `academy evolve datasets` first")
    return {
        split: datasets.Dataset(pq.read_table(out_dir / name))
        for split, name in zip(("train", "eval", "regression"), DATASET_FILES)
    }


def with_paraphrases(train: datasets.Dataset, held_out: Iterable[str], ratio: float) -> datasets.Dataset:
    """``train`` plus its paraphrase practice (academy/evolution/paraphrase.py): at most ``ratio`` x
    its rows, none of them a ``held_out`` query. A practice row keeps its source row's answer,
    reasoning, weight, gap and provenance; its ``query_id`` is the source's with ``:p`` and a number.
    Deterministic: the same rows give the same practice."""
    if ratio <= 0 or len(train) == 0:
        return train
    rows = train.to_pandas()
    by_query = {q: i for i, q in enumerate(rows["query"])}
    logged = [Logged(q, a, r) for q, a, r in zip(rows["query"], rows["answer"], rows["reasoning"])]
    # held-out queries are deduplicated by normalised text: so is what practice must not produce
    practice = paraphrases(logged, exclude=held_out, limit=int(ratio * len(rows)), key=normalize_query)
    if not practice:
        return train
    sources = rows.iloc[[by_query[p.source] for p in practice]].reset_index(drop=True)
    new = sources.assign(
        query_id=[f"{q}:p{i}" for i, q in enumerate(sources["query_id"])],
        query=[p.query for p in practice],
        prompt=[format_prompt(p.query) for p in practice],
    )
    return datasets.concatenate_datasets(
        [train, datasets.Dataset.from_pandas(new, features=train.features, preserve_index=False)]
    )


def with_rehearsal(
    training: datasets.Dataset, pairs: list[tuple[str, str, str | None]], fraction: float
) -> datasets.Dataset:
    """Add every one of the student's own warm-start pairs, weighted so that together they draw
    ``fraction`` x the sampling weight of tonight's rows (training resamples by weight).

    A night teaches a few hundred traffic examples for many epochs; rehearsing a same-sized subset
    of the old data still overwrote the rest (the gate refused every candidate). Spreading the
    rehearsal over the whole warm-start set keeps each old example rare but the old skills alive.
    """
    if not pairs or fraction <= 0 or len(training) == 0:
        return training
    weight = fraction * float(sum(training["weight"])) / len(pairs)
    rows = {
        "prompt": [format_prompt(q) for q, *_ in pairs],
        "completion": [format_target(a, *r) for _, a, *r in pairs],
        "weight": [weight] * len(pairs),
    }
    return datasets.concatenate_datasets(
        [training, datasets.Dataset.from_dict(rows, features=training.features)]
    )


@dataclass(frozen=True)
class TrainingExamples:
    """What one candidate trains on: ``sft`` (prompt/completion/weight rows for sequence-level
    distillation) and ``peer`` (the rows of domains whose aspects include ``peer``, for logit
    distillation from a promoted peer; empty when none do)."""

    sft: datasets.Dataset
    peer: datasets.Dataset


def training_examples(train: datasets.Dataset, config: DistillConfig, threshold: float) -> TrainingExamples:
    """Each row trained as its domain's aspects say (``DistillConfig.aspects_for``).

    ``response``/``reasoning`` choose the targets (both: the query is taught twice, once each way; a
    row without reasoning falls back to its answer). With ``metrics`` the judge's score is the
    example's sampling weight and rows scored below ``threshold`` are dropped; without it every
    winner counts once, right or wrong. ``peer`` puts the same rows in the peer set.
    """
    sft: dict[str, list] = {"prompt": [], "completion": [], "weight": []}
    peer: dict[str, list] = {"prompt": [], "completion": [], "weight": []}
    for row in train:
        aspects = config.aspects_for(row["domain"])
        if "metrics" in aspects and row["weight"] < threshold:
            continue
        weight = float(row["weight"]) if "metrics" in aspects else 1.0
        for target in _targets(row, aspects):
            for rows in (sft, peer) if "peer" in aspects else (sft,):
                rows["prompt"].append(row["prompt"])
                rows["completion"].append(target)
                rows["weight"].append(weight)
    return TrainingExamples(_prompt_completions(sft), _prompt_completions(peer))


def _targets(row: dict, aspects: list[str]) -> list[str]:
    reasoning = row["completion_reasoning"] or row["completion"]
    wanted = {"response": row["completion"], "reasoning": reasoning}
    return list(dict.fromkeys(wanted[a] for a in ("response", "reasoning") if a in aspects))


def _prompt_completions(rows: dict[str, list]) -> datasets.Dataset:
    features = datasets.Features(
        {
            "prompt": datasets.Value("string"),
            "completion": datasets.Value("string"),
            "weight": datasets.Value("float64"),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)
