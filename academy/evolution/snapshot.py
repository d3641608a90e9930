"""A frozen traffic snapshot: the LanceDB tables exported to Parquet, the input of every DVC stage.

Why a snapshot: the traffic store keeps growing while the night runs, and ``dvc repro`` must be
able to rebuild the distillation datasets byte for byte later. Rows are sorted by id and written
with fixed Parquet options, so the same traffic always gives the same bytes (and the same DVC md5).

Late judge scores (``scores`` table) are merged into the answers here: downstream code sees one
``judge_score`` per answer, whichever judge produced it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from academy.store import TrafficStore

QUERIES_FILE = "queries.parquet"
ANSWERS_FILE = "answers.parquet"
SNAPSHOT_FILES = (QUERIES_FILE, ANSWERS_FILE)
# Query rows the nightly flow itself writes (evaluation evidence for promoted versions): never traffic.
EVALUATION_ROUTE = "evaluation"
# The domain of traffic that came without one (a user's own trace may have no domains).
UNKNOWN_DOMAIN = "unknown"
QUERY_COLUMNS = [
    "id", "ts", "tenant", "text", "embedding", "route", "final_model", "final_answer",
    "final_score", "total_cost", "domain",
]  # fmt: skip
ANSWER_COLUMNS = [
    "id", "query_id", "ts", "tenant", "model", "role", "purpose", "text", "reasoning", "tokens_in",
    "tokens_out", "cost", "judge_score", "judge_name", "judge_cost", "error", "version",
]  # fmt: skip


@dataclass(frozen=True)
class Snapshot:
    """The two tables of a snapshot as DataFrames (traffic only: evaluation rows dropped)."""

    queries: pd.DataFrame
    answers: pd.DataFrame


def export_snapshot(store: TrafficStore, out_dir: Path) -> dict[str, str]:
    """Write ``queries.parquet`` and ``answers.parquet`` (late scores merged); returns file -> md5."""
    out_dir.mkdir(parents=True, exist_ok=True)
    queries = store.queries_table.to_arrow().select(QUERY_COLUMNS)
    answers = _with_late_scores(store.answers_table.to_arrow(), store.scores_frame())
    _write(queries, out_dir / QUERIES_FILE)
    _write(answers.select(ANSWER_COLUMNS), out_dir / ANSWERS_FILE)
    return {name: file_md5(out_dir / name) for name in SNAPSHOT_FILES}


def _with_late_scores(answers: pa.Table, scores: pd.DataFrame) -> pa.Table:
    """Fill ``judge_score``/``judge_name`` of answers judged later; add the late judge cost."""
    if scores.empty:
        return answers
    frame = answers.to_pandas()
    late = scores.sort_values(["id", "ts"]).drop_duplicates("id", keep="last").set_index("id")
    missing = frame["judge_score"].isna() & frame["id"].isin(late.index)
    ids = frame.loc[missing, "id"]
    frame.loc[missing, "judge_score"] = late.loc[ids, "judge_score"].to_numpy()
    frame.loc[missing, "judge_name"] = late.loc[ids, "judge_name"].to_numpy()
    frame.loc[missing, "judge_cost"] = (
        frame.loc[missing, "judge_cost"] + late.loc[ids, "judge_cost"].to_numpy()
    )
    return pa.Table.from_pandas(frame, schema=answers.schema, preserve_index=False)


def _write(table: pa.Table, path: Path) -> None:
    table = table.sort_by("id").replace_schema_metadata(None)
    pq.write_table(table, path, compression="zstd", use_dictionary=False, write_statistics=False)


def read_snapshot(snapshot_dir: Path) -> Snapshot:
    """Load a snapshot; evaluation rows (written by earlier nights, not users) are left out."""
    missing = [n for n in SNAPSHOT_FILES if not (snapshot_dir / n).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{snapshot_dir} is not a traffic snapshot (missing {', '.join(missing)}); "
            "run `academy evolve snapshot` first"
        )
    queries = pq.read_table(snapshot_dir / QUERIES_FILE).to_pandas()
    answers = pq.read_table(snapshot_dir / ANSWERS_FILE).to_pandas()
    traffic = queries[queries["route"] != EVALUATION_ROUTE].reset_index(drop=True)
    answers = answers[answers["query_id"].isin(set(traffic["id"]))].reset_index(drop=True)
    return Snapshot(traffic, answers)


def file_md5(path: Path) -> str:
    """The md5 DVC 3 records for a file output (plain md5 of its bytes): the lineage MLflow logs."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
