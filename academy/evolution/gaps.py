"""Knowledge gaps: clusters of traffic where students lose, or that no student covers, ranked by
how much money a good student there would save.

savings = (teacher-served queries, each weighted by its recency) x (teacher cost per answer): what
the cluster spends on teachers now. Recency halves a query's weight every ``savings_half_life``
newer queries of the snapshot (0: every query counts 1), so a region the traffic has just started
asking (the demo's capitals from day 4) ranks by what it costs today, not behind regions that have
had more days to add up. A cluster is a gap when its best student (judged on at least
``min_student_evidence`` answers) scores below the quality gate ("underperforming": retrain that
student) or when no student has that much evidence there ("uncovered": spawn a new student).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from academy.clustering import choose_k, kmeans
from academy.config import GapsConfig, ScoringConfig
from academy.evolution.snapshot import UNKNOWN_DOMAIN, Snapshot

CLUSTERS_FILE = "clusters.parquet"
AGGREGATES_FILE = "aggregates.parquet"
GAPS_FILE = "gaps.json"
REPORT_FILE = "gap_report.md"
GAP_FILES = (CLUSTERS_FILE, AGGREGATES_FILE, GAPS_FILE, REPORT_FILE)


@dataclass
class ClusterStats:
    cluster: int
    queries: int
    domain: str
    domains: dict[str, int]
    teacher_share: float
    teacher_cost: float
    savings: float
    best_student: str | None
    best_student_score: float | None
    kind: str | None  # "underperforming" | "uncovered" | None (no gap)
    examples: list[str] = field(default_factory=list)


@dataclass
class GapReport:
    clusters: list[ClusterStats]
    selected: list[ClusterStats]
    quality_gate: float

    def to_json(self) -> str:
        data = {
            "quality_gate": self.quality_gate,
            "selected": [asdict(c) for c in self.selected],
            "clusters": [asdict(c) for c in self.clusters],
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> GapReport:
        data = json.loads(text)
        return cls(
            clusters=[ClusterStats(**c) for c in data["clusters"]],
            selected=[ClusterStats(**c) for c in data["selected"]],
            quality_gate=data["quality_gate"],
        )


def cluster_queries(snapshot: Snapshot, config: ScoringConfig) -> pd.Series:
    """query id -> cluster, from a seeded k-means over the snapshot's embeddings (sorted by id)."""
    queries = snapshot.queries.sort_values("id")
    if queries.empty:
        return pd.Series(dtype="int64")
    vectors = np.stack(queries["embedding"].to_numpy())
    labels, _ = kmeans(vectors, choose_k(len(vectors), config.clusters, config.max_clusters), config.seed)
    return pd.Series(labels, index=queries["id"].to_numpy(), name="cluster")


def mine_gaps(
    snapshot: Snapshot, clusters: pd.Series, aggregates: pd.DataFrame, config: GapsConfig
) -> GapReport:
    """Rank clusters by savings; select the top ``max_gaps`` gaps with at least ``min_queries`` queries."""
    queries = snapshot.queries.assign(
        cluster=snapshot.queries["id"].map(clusters),
        recency=recency_weights(snapshot.queries["ts"], config.savings_half_life),
    )
    roles = snapshot.answers.drop_duplicates("model").set_index("model")["role"]
    stats = [
        _cluster_stats(int(c), group, aggregates[aggregates["cluster"] == c], roles, snapshot, config)
        for c, group in queries.groupby("cluster")
    ]
    stats.sort(key=lambda s: (-s.savings, s.cluster))
    selected = [s for s in stats if s.kind and s.queries >= config.min_queries][: config.max_gaps]
    return GapReport(stats, selected, config.quality_gate)


def recency_weights(timestamps: pd.Series, half_life: int) -> pd.Series:
    """0.5 ** (newer queries / half_life) per query (1 for all when ``half_life`` is 0): ties in
    time keep their order, so the weights depend only on the snapshot."""
    if half_life <= 0 or timestamps.empty:
        return pd.Series(1.0, index=timestamps.index)
    newer = timestamps.rank(method="first", ascending=False) - 1
    return np.power(0.5, newer / half_life)


def _cluster_stats(cluster, queries, aggregates, roles, snapshot, config: GapsConfig) -> ClusterStats:
    teachers = {m for m, r in roles.items() if r == "teacher"}
    answers = snapshot.answers[snapshot.answers["query_id"].isin(set(queries["id"]))]
    teacher_answers = answers[answers["model"].isin(teachers) & answers["error"].isna()]
    teacher_cost = float(teacher_answers["cost"].mean()) if len(teacher_answers) else 0.0
    teacher_share = float(queries["final_model"].isin(teachers).mean())
    per_model = aggregates.groupby("model").apply(_judged_mean, include_groups=False)
    students = per_model[[m not in teachers for m in per_model.index]] if len(per_model) else per_model
    covered = (
        students[students["judged"] >= max(config.min_student_evidence, 1)] if len(students) else students
    )
    best = covered["mean_score"].idxmax() if len(covered) else None
    best_score = float(covered.loc[best, "mean_score"]) if best is not None else None
    kind = "uncovered" if best is None else ("underperforming" if best_score < config.quality_gate else None)
    domains = queries["domain"].fillna(UNKNOWN_DOMAIN).value_counts()
    return ClusterStats(
        cluster=cluster,
        queries=len(queries),
        domain=str(domains.index[0]),
        domains={str(k): int(v) for k, v in domains.items()},
        teacher_share=round(teacher_share, 6),
        teacher_cost=round(teacher_cost, 9),
        savings=round(
            float(queries["recency"][queries["final_model"].isin(teachers)].sum()) * teacher_cost, 9
        ),
        best_student=best,
        best_student_score=None if best_score is None else round(best_score, 6),
        kind=kind,
        examples=sorted(queries["text"])[:3],
    )


def _judged_mean(group: pd.DataFrame) -> pd.Series:
    judged = int(group["judged"].sum())
    total = float((group["mean_score"].fillna(0) * group["judged"]).sum())
    return pd.Series({"judged": judged, "mean_score": total / judged if judged else np.nan})


def gap_report_markdown(report: GapReport) -> str:
    """The gap report people read (Prefect artifact, MLflow artifact)."""
    lines = [
        "# Knowledge gaps",
        "",
        f"Quality gate {report.quality_gate:.2f}. Savings = queries x teacher share x teacher cost per answer.",
        "",
        "| rank | cluster | domain | queries | teacher share | savings (USD) | best student (score) | gap | examples |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    selected = {c.cluster for c in report.selected}
    for rank, c in enumerate(report.clusters, 1):
        best = f"{c.best_student} ({c.best_student_score:.2f})" if c.best_student else "none"
        mark = f"**{c.kind}**" if c.cluster in selected else (c.kind or "-")
        example = "; ".join(c.examples[:2]).replace("|", "/")
        lines.append(
            f"| {rank} | {c.cluster} | {c.domain} | {c.queries} | {c.teacher_share:.0%} | "
            f"{c.savings:.6f} | {best} | {mark} | {example} |"
        )
    lines += [
        "",
        f"Selected {len(report.selected)} gap(s): "
        + ", ".join(f"cluster {c.cluster} ({c.domain}, {c.kind})" for c in report.selected)
        or "none",
    ]
    return "\n".join(lines) + "\n"


def write_gaps(out_dir: Path, clusters: pd.Series, aggregates: pd.DataFrame, report: GapReport) -> None:
    """The ``gaps`` stage outputs, byte-stable for the same snapshot and config."""
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = pa.table({"query_id": clusters.index.astype(str).tolist(), "cluster": clusters.to_numpy()})
    pq.write_table(frame, out_dir / CLUSTERS_FILE, compression="zstd", use_dictionary=False)
    table = pa.Table.from_pandas(aggregates, preserve_index=False).replace_schema_metadata(None)
    pq.write_table(table, out_dir / AGGREGATES_FILE, compression="zstd", use_dictionary=False)
    (out_dir / GAPS_FILE).write_text(report.to_json())
    (out_dir / REPORT_FILE).write_text(gap_report_markdown(report))


def read_gaps(gaps_dir: Path) -> tuple[pd.Series, GapReport]:
    if not (gaps_dir / GAPS_FILE).is_file():
        raise FileNotFoundError(f"{gaps_dir} has no {GAPS_FILE}; run `academy evolve gaps` first")
    frame = pq.read_table(gaps_dir / CLUSTERS_FILE).to_pandas()
    clusters = pd.Series(frame["cluster"].to_numpy(), index=frame["query_id"].to_numpy(), name="cluster")
    return clusters, GapReport.from_json((gaps_dir / GAPS_FILE).read_text())
