"""TrafficStore: idempotent logging, tenant-isolated cosine search, indexing, persistence, validation."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from academy import store as store_module
from academy.config import StoreConfig
from academy.store import (
    EMBEDDING_DIM,
    AnswerRecord,
    QueryRecord,
    StoreError,
    TrafficStore,
    sql_str,
)

SMALL = StoreConfig(index_min_rows=256, reindex_every_rows=1000, nprobes=8, refine_factor=4)


def unit(rng: np.random.Generator, n: int = 1) -> np.ndarray:
    vectors = rng.standard_normal((n, EMBEDDING_DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def query(id: str, vector: np.ndarray, tenant: str = "acme", **extra: object) -> QueryRecord:
    fields: dict = dict(route="novel", final_model="teacher", final_answer="4", text=f"text of {id}")
    fields.update(extra)
    return QueryRecord(id=id, tenant=tenant, embedding=vector, **fields)


def answers(judged: bool = True) -> list[AnswerRecord]:
    return [
        AnswerRecord(
            model="teacher",
            role="teacher",
            purpose="serve",
            text="4",
            tokens_in=12,
            tokens_out=3,
            cost=1e-4,
            latency_ms=250.0,
            judge_score=0.9 if judged else None,
            judge_name="reference",
        ),
        AnswerRecord(
            model="student", role="student", purpose="shadow", text="5", judge_score=0.2 if judged else None
        ),
    ]


@pytest.fixture
def store(tmp_path: Path) -> TrafficStore:
    return TrafficStore(tmp_path / "lancedb", SMALL)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def test_round_trip(store: TrafficStore, rng: np.random.Generator) -> None:
    vector = unit(rng)[0]
    assert store.log(query("r1", vector, final_score=0.9, domain="arithmetic"), answers())

    row = store.get_query("r1")
    assert row is not None
    assert row["tenant"] == "acme" and row["route"] == "novel" and row["domain"] == "arithmetic"
    np.testing.assert_allclose(row["embedding"], vector, rtol=1e-6)
    assert row["judged_models"] == ["teacher", "student"]  # filled from the answers' judge scores
    np.testing.assert_allclose(row["judged_scores"], [0.9, 0.2], rtol=1e-6)
    assert row["ts"].tzinfo is not None

    stored = store.answers_for("r1")
    assert {a["id"] for a in stored} == {"r1/teacher/serve", "r1/student/shadow"}
    teacher = next(a for a in stored if a["model"] == "teacher")
    assert teacher["tenant"] == "acme" and teacher["tokens_in"] == 12 and teacher["reasoning"] is None
    assert store.count() == 1 and store.count("answers") == 2
    assert store.get_query("missing") is None and store.answers_for("missing") == []


def test_relog_is_idempotent(store: TrafficStore, rng: np.random.Generator) -> None:
    vector = unit(rng)[0]
    assert store.log(query("r1", vector), answers()) is True
    assert store.log(query("r1", vector, final_answer="changed"), answers()) is False
    assert store.count() == 1 and store.count("answers") == 2
    assert store.get_query("r1")["final_answer"] == "4"

    other = unit(rng)[0]
    batch = [(query("r1", vector), answers()), (query("r2", other), answers())]
    assert store.log_many(batch) == 1
    assert store.count() == 2 and store.count("answers") == 4


def test_relog_after_crash_fills_missing_query(
    store: TrafficStore, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers are written first; a crash before the query write is repaired by logging again."""
    original = TrafficStore._insert_new

    def crash_on_queries(table, data):  # type: ignore[no-untyped-def]
        if table is store.queries_table:
            raise OSError("simulated crash")
        return original(table, data)

    vector = unit(rng)[0]
    monkeypatch.setattr(TrafficStore, "_insert_new", staticmethod(crash_on_queries))
    with pytest.raises(OSError):
        store.log(query("r1", vector), answers())
    assert store.count() == 0 and store.count("answers") == 2
    monkeypatch.setattr(TrafficStore, "_insert_new", staticmethod(original))
    assert store.log(query("r1", vector), answers()) is True
    assert store.count() == 1 and store.count("answers") == 2


def test_search_is_tenant_isolated(store: TrafficStore, rng: np.random.Generator) -> None:
    vectors = unit(rng, 6)
    store.log_many([(query(f"a{i}", v, tenant="A"), []) for i, v in enumerate(vectors)])
    store.log_many([(query(f"b{i}", v, tenant="B"), []) for i, v in enumerate(vectors)])
    for i, vector in enumerate(vectors):
        found = store.search(vector, "A", k=10)
        assert {n.id[0] for n in found} == {"a"} and len(found) == 6
        assert found[0].id == f"a{i}"
    assert store.search(vectors[0], "C", k=5) == []
    assert store.count(tenant="A") == 6 and store.count(tenant="B") == 6


def test_cosine_similarity_and_order(store: TrafficStore, rng: np.random.Generator) -> None:
    base, noise = unit(rng, 2)
    near = base + 0.3 * noise
    far = -base + 0.1 * noise
    items = [("same", base), ("near", near), ("far", far), ("scaled", 5.0 * near)]
    store.log_many([(query(name, vector), []) for name, vector in items])

    found = store.search(base, "acme", k=4)
    assert found[0].id == "same" and found[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert {found[1].id, found[2].id} == {"near", "scaled"}  # cosine ignores length
    assert found[1].similarity == pytest.approx(found[2].similarity, abs=1e-5)
    expected = float(np.dot(base, near) / np.linalg.norm(near))
    assert found[1].similarity == pytest.approx(expected, abs=1e-4)
    assert found[3].id == "far" and found[3].similarity < 0
    sims = [n.similarity for n in found]
    assert sims == sorted(sims, reverse=True)
    assert found[0].final_model == "teacher" and found[0].route == "novel" and found[0].text == "text of same"
    assert store.search(base, "acme", k=0) == []


def test_neighbours_carry_judged_scores(store: TrafficStore, rng: np.random.Generator) -> None:
    vector = unit(rng)[0]
    store.log(query("r1", vector), answers())
    (neighbour,) = store.search(vector, "acme", k=3)
    assert neighbour.judged_models == ["teacher", "student"]
    assert neighbour.judged_scores == pytest.approx([0.9, 0.2], abs=1e-6)


def test_index_built_and_fresh_rows_still_found(store: TrafficStore, rng: np.random.Generator) -> None:
    vectors = unit(rng, 600)
    tenants = ["A", "B", "C"]
    store.log_many([(query(f"q{i}", v, tenant=tenants[i % 3]), []) for i, v in enumerate(vectors[:200])])
    assert store.maybe_index() is False  # 200 < index_min_rows
    assert not store.has_vector_index()
    store.log_many(
        [(query(f"q{i}", v, tenant=tenants[i % 3]), []) for i, v in enumerate(vectors) if i >= 200]
    )
    assert store.pending_rows == 400  # maybe_index() above reset the counter

    assert store.maybe_index() is True
    assert store.has_vector_index()
    assert store.pending_rows == 0
    names = {ix.name for ix in store.queries_table.list_indices()}
    assert {"embedding_idx", "id_idx", "tenant_idx"} <= names
    assert store.maybe_index() is False  # nothing new

    for i in (0, 301, 599):  # indexed rows are found (refine re-ranks on exact vectors)
        found = store.search(vectors[i], tenants[i % 3], k=3)
        assert found[0].id == f"q{i}" and found[0].similarity == pytest.approx(1.0, abs=1e-5)

    fresh = unit(rng, 5)
    for j, vector in enumerate(fresh):
        assert store.log(query(f"new{j}", vector, tenant="A"), [])
    stats = store.queries_table.index_stats("embedding_idx")
    assert stats.num_unindexed_rows == 5  # really outside the index ...
    for j, vector in enumerate(fresh):  # ... and still found, by the flat scan of new fragments
        found = store.search(vector, "A", k=3)
        assert found[0].id == f"new{j}" and found[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_reindex_after_enough_new_rows(tmp_path: Path, rng: np.random.Generator) -> None:
    store = TrafficStore(tmp_path / "db", SMALL.model_copy(update={"reindex_every_rows": 10}))
    vectors = unit(rng, 320)
    store.log_many([(query(f"q{i}", v), []) for i, v in enumerate(vectors[:300])])
    assert store.maybe_index() is True
    store.log_many([(query(f"q{i}", v), []) for i, v in enumerate(vectors) if i >= 300])
    assert store.queries_table.index_stats("embedding_idx").num_unindexed_rows == 20
    assert store.maybe_index() is True  # 20 >= reindex_every_rows: fold them into the index
    assert store.queries_table.index_stats("embedding_idx").num_unindexed_rows == 0
    found = store.search(vectors[310], "acme", k=1)
    assert found[0].id == "q310"


def test_retrain_merges_delta_segments(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each compaction with new rows adds an ANN delta segment; too many trigger a retrain."""
    monkeypatch.setattr(store_module, "MAX_INDEX_SEGMENTS", 2)
    store = TrafficStore(tmp_path / "db", SMALL)
    vectors = unit(rng, 330)
    store.log_many([(query(f"q{i}", v), []) for i, v in enumerate(vectors[:300])])
    assert store.maybe_index()
    for start in (300, 310, 320):
        store.log_many([(query(f"q{i}", vectors[i]), []) for i in range(start, start + 10)])
        store.compact()
    assert store.queries_table.list_indices()[0].num_segments == 4
    assert store.maybe_index() is True
    index = next(ix for ix in store.queries_table.list_indices() if ix.name == "embedding_idx")
    assert index.num_segments == 1 and index.num_indexed_rows == 330
    assert store.search(vectors[325], "acme", k=1)[0].id == "q325"


def test_async_and_fallback_search_agree(
    store: TrafficStore, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = unit(rng, 20)
    store.log_many([(query(f"q{i}", v, tenant="AB"[i % 2]), []) for i, v in enumerate(vectors)])
    fast = store.search(vectors[4], "A", k=5)
    awaited = asyncio.run(store.asearch(vectors[4], "A", k=5))
    monkeypatch.setattr(store_module, "_native", lambda table: None)  # LanceDB internals moved
    fallback = store.search(vectors[4], "A", k=5)
    threaded = asyncio.run(store.asearch(vectors[4], "A", k=5))
    assert fast[0].id == "q4" and len(fast) == 5
    assert (
        [n.id for n in fast]
        == [n.id for n in awaited]
        == [n.id for n in fallback]
        == [n.id for n in threaded]
    )
    for a, b in zip(fast, fallback, strict=True):
        assert a.similarity == pytest.approx(b.similarity, abs=1e-6)


def test_reopen_keeps_data_and_index(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "db"
    vectors = unit(rng, 300)
    first = TrafficStore(path, SMALL)
    first.log_many([(query(f"q{i}", v), answers()) for i, v in enumerate(vectors)])
    assert first.maybe_index()

    again = TrafficStore(path, SMALL)
    assert again.count() == 300 and again.count("answers") == 600
    assert again.has_vector_index()
    assert again.get_query("q5")["text"] == "text of q5"
    assert again.search(vectors[7], "acme", k=1)[0].id == "q7"
    assert again.log(query("q5", vectors[5]), answers()) is False


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(embedding=np.ones(10, dtype=np.float32)), "shape"),
        (dict(embedding=np.full(EMBEDDING_DIM, np.nan, dtype=np.float32)), "NaN"),
        (dict(embedding=np.zeros(EMBEDDING_DIM, dtype=np.float32)), "zeros"),
        (dict(embedding=["x"] * EMBEDDING_DIM), "numeric"),
        (dict(tenant=""), "tenant"),
        (dict(tenant="   "), "tenant"),
        (dict(id=""), "id"),
        (dict(total_cost=math.inf), "total_cost"),
        (dict(judged_models=["a"], judged_scores=[]), "differ in length"),
    ],
)
def test_bad_query_rejected_and_store_unchanged(
    store: TrafficStore, rng: np.random.Generator, change: dict, message: str
) -> None:
    good = query("ok", unit(rng)[0])
    store.log(good, answers())
    fields = {**good.__dict__, "id": "bad", **change}
    with pytest.raises(StoreError, match=message):
        store.log(QueryRecord(**fields), answers())
    with pytest.raises(StoreError):  # one bad item rejects the whole batch
        store.log_many([(query("fine", unit(rng)[0]), []), (QueryRecord(**fields), [])])
    assert store.count() == 1 and store.count("answers") == 2
    assert store.get_query("fine") is None


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (AnswerRecord(model="m", role="professor", purpose="serve", text="x"), "role"),
        (AnswerRecord(model="", role="ta", purpose="serve", text="x"), "model"),
        (AnswerRecord(model="m", role="ta", purpose="serve", text="x", query_id="other"), "belongs"),
        (AnswerRecord(model="m", role="ta", purpose="serve", text="x", tokens_in=-1), "tokens_in"),
        (AnswerRecord(model="m", role="ta", purpose="serve", text="x", judge_score=math.nan), "judge_score"),
    ],
)
def test_bad_answer_rejected(
    store: TrafficStore, rng: np.random.Generator, answer: AnswerRecord, message: str
) -> None:
    with pytest.raises(StoreError, match=message):
        store.log(query("r1", unit(rng)[0]), [answer])
    assert store.count() == 0 and store.count("answers") == 0


def test_duplicate_ids_rejected(store: TrafficStore, rng: np.random.Generator) -> None:
    vector = unit(rng)[0]
    with pytest.raises(StoreError, match="duplicate query ids"):
        store.log_many([(query("r1", vector), []), (query("r1", vector), [])])
    twice = [answers()[0], answers()[0]]
    with pytest.raises(StoreError, match="duplicate answer ids"):
        store.log(query("r1", vector), twice)
    assert store.count() == 0


def test_search_rejects_bad_vectors(store: TrafficStore) -> None:
    with pytest.raises(StoreError):
        store.search(np.ones(3), "acme", k=3)
    with pytest.raises(StoreError):
        store.search(np.full(EMBEDDING_DIM, np.inf), "acme", k=3)
    with pytest.raises(StoreError):
        store.search(np.ones(EMBEDDING_DIM), "", k=3)


def test_quotes_in_tenant_and_id_are_escaped(store: TrafficStore, rng: np.random.Generator) -> None:
    vector = unit(rng)[0]
    evil = "x' OR '1'='1"
    tenants = ["o'brien", evil, "x", "back\\slash'"]
    for i, tenant in enumerate(tenants):
        store.log(query(f"id'{i}", vector, tenant=tenant), answers())
    for i, tenant in enumerate(tenants):
        assert store.count(tenant=tenant) == 1
        assert [n.id for n in store.search(vector, tenant, k=10)] == [f"id'{i}"]
        assert len(store.queries_frame(tenant)) == 1 and len(store.answers_frame(tenant)) == 2
    assert store.get_query("id'1")["tenant"] == evil
    assert len(store.answers_for("id'1")) == 2
    assert store.log(query("id'1", vector, tenant=evil), []) is False
    assert sql_str("a'b") == "'a''b'"
    with pytest.raises(StoreError):
        sql_str("nul\x00")


def test_frames(store: TrafficStore, rng: np.random.Generator) -> None:
    vectors = unit(rng, 3)
    store.log(query("a", vectors[0], tenant="A"), answers())
    store.log(query("b", vectors[1], tenant="B"), answers(judged=False))
    store.log(query("c", vectors[2], tenant="B"), [])
    queries = store.queries_frame()
    assert sorted(queries["id"]) == ["a", "b", "c"]
    assert sorted(store.queries_frame("B")["id"]) == ["b", "c"]
    assert len(store.answers_frame()) == 4 and len(store.answers_frame("A")) == 2
    assert list(store.queries_frame("B").set_index("id").loc["b", "judged_models"]) == []


def test_compact_merges_fragments(store: TrafficStore, rng: np.random.Generator) -> None:
    for i, vector in enumerate(unit(rng, 8)):
        store.log(query(f"r{i}", vector), answers())
    before = store.queries_table.stats()["fragment_stats"]["num_fragments"]
    store.compact()
    after = store.queries_table.stats()["fragment_stats"]["num_fragments"]
    assert before == 8 and after == 1
    assert store.count() == 8 and store.count("answers") == 16


def test_count_rejects_unknown_table(store: TrafficStore) -> None:
    with pytest.raises(StoreError, match="unknown table"):
        store.count("nope")  # type: ignore[arg-type]


def test_store_written_before_versions_is_migrated(tmp_path):
    """Answers tables from before the ``version`` column get it and every later one (``confidence``),
    all null and in the schema's order; old rows stay readable."""
    import lancedb
    import pyarrow as pa

    from academy.store import ANSWER_SCHEMA

    old_schema = pa.schema(list(ANSWER_SCHEMA)[: ANSWER_SCHEMA.get_field_index("version")])
    db = lancedb.connect(str(tmp_path / "db"))
    db.create_table("answers", schema=old_schema)
    store = TrafficStore(tmp_path / "db")
    assert store.answers_table.schema.names[-2:] == ["version", "confidence"]
    assert store.count("answers") == 0 and store.count("scores") == 0


def test_compaction_deletes_old_table_versions(tmp_path):
    """Every logged request writes a table version; compaction must not let them pile up."""
    from academy.config import StoreConfig

    store = TrafficStore(tmp_path / "db", StoreConfig(keep_versions_minutes=1e-6))
    for i in range(5):
        query = QueryRecord(id=f"q{i}", tenant="t", text="x", embedding=np.ones(384, np.float32), route="novel",
                            final_model="m", final_answer="a")  # fmt: skip
        store.log(query, [AnswerRecord(model="m", role="student", purpose="serve", text="a")])
    assert len(store.queries_table.list_versions()) >= 5
    store.compact()
    assert len(store.queries_table.list_versions()) <= 2
    assert store.count() == 5  # nothing stored is lost
