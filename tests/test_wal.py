"""The write-ahead traffic log: record format, segments, rejection, and no acknowledged request lost
to a LanceDB outage or a crash (a real SIGKILL of a real process)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from academy.config import AcademyConfig, StoreConfig
from academy.routing import RouteRequest
from academy.runtime import Runtime
from academy.store import EMBEDDING_DIM, AnswerRecord, QueryRecord, TrafficStore
from academy.wal import REJECTED, TrafficLog, WalRecord, decode_record, encode_record

REPO = Path(__file__).resolve().parents[1]
SLOW = {"log_interval_ms": 600_000.0, "log_batch": 100_000}  # the writer stores only when flushed


def unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=EMBEDDING_DIM).astype(np.float32)
    return v / np.linalg.norm(v)


def query(id: str, seed: int = 0, **extra: object) -> QueryRecord:
    fields: dict = dict(route="novel", final_model="teacher", final_answer="4", text=f"text of {id}")
    return QueryRecord(id=id, tenant="acme", embedding=unit(seed), **(fields | extra))


def answer(purpose: str = "serve", model: str = "teacher", **extra: object) -> AnswerRecord:
    role = "teacher" if model == "teacher" else "student"
    return AnswerRecord(model=model, role=role, purpose=purpose, text="4", **extra)


def traffic_log(tmp_path: Path, **kwargs: object) -> TrafficLog:
    store = TrafficStore(tmp_path / "lancedb", StoreConfig(**SLOW))
    return TrafficLog(tmp_path / "wal", store, **kwargs)


def stored_ids(store: TrafficStore) -> list[str]:
    return sorted(store.queries_frame()["id"])


# ---- the record format --------------------------------------------------------------------------


def test_records_round_trip_every_field_compactly():
    q = QueryRecord(
        id="q-1",
        tenant="acme",
        text='What is "47" plus 35?\nÜber',
        embedding=unit(1),
        route="familiar",
        final_model="student-1",
        final_answer="82",
        total_cost=1.25e-5,
        latency_ms=12.5,
        final_score=0.875,
        domain="arithmetic",
        judged_models=["student-1@3", "teacher"],
        judged_scores=[0.875, 1.0],
        ts=datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
    )
    a = AnswerRecord(
        model="student-1",
        role="student",
        purpose="shadow",
        text="82",
        query_id="q-1",
        tenant="acme",
        tokens_in=9,
        tokens_out=2,
        cost=3.5e-7,
        latency_ms=4.25,
        reasoning="7+5=12, carry 1",
        judge_score=np.float32(0.5),  # judges may hand back numpy scalars
        judge_name="reference",
        judge_cost=2e-4,
        error="partial",
        ts=datetime(2026, 1, 2, 3, 4, 6),  # naive stays naive
        id="q-1/student-1/shadow",
        version="3",
    )
    plain = answer()
    line = encode_record(WalRecord(q, [a, plain], final=False))
    back = decode_record(line)

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert isinstance(json.loads(line)["query"]["embedding"], str)  # base64 of float32 bytes:
    assert len(line) < 4000  # ~2 KB for 384 floats, where a JSON float list takes ~8 KB
    assert back.final is False and len(back.answers) == 2
    assert np.array_equal(back.query.embedding, q.embedding) and back.query.embedding.dtype == np.float32
    assert {k: v for k, v in dataclasses.asdict(back.query).items() if k != "embedding"} == {
        k: v for k, v in dataclasses.asdict(q).items() if k != "embedding"
    }
    assert dataclasses.asdict(back.answers[0]) == dataclasses.asdict(a) | {"judge_score": 0.5}
    assert back.answers[1] == plain


# ---- segments ------------------------------------------------------------------------------------


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    wal = tmp_path / "wal"
    wal.mkdir()
    good = [encode_record(WalRecord(query(f"q-{i}", i), [answer()])) for i in range(2)]
    torn = encode_record(WalRecord(query("q-torn", 9), [answer()]))[:700]  # died mid-write
    (wal / "seg-00000000000000000001-1-1.jsonl").write_bytes(b"".join(good) + torn)
    log = traffic_log(tmp_path)

    with caplog.at_level(logging.WARNING, logger="academy.wal"):
        assert asyncio.run(log.start()) == 2

    assert stored_ids(log.store) == ["q-0", "q-1"]
    assert "torn last line" in caplog.text
    assert log.segments() == [] and not (wal / REJECTED).exists()  # stored, so deleted


def test_segments_rotate_and_each_is_deleted_once_all_its_requests_are_stored(tmp_path):
    size = len(encode_record(WalRecord(query("b0"), [answer()])))
    log = traffic_log(tmp_path, segment_bytes=2 * size + 100)  # two records a segment

    async def run() -> None:
        await log.append(query("a"), [answer()], final=False)  # its final arrives much later
        for i in range(5):
            await log.append(query(f"b{i}", i), [answer()], final=True)
        assert len(log.segments()) == 3 and log.store.count() == 0  # nothing stored before a flush
        assert await log.flush(timeout=60)
        assert stored_ids(log.store) == [f"b{i}" for i in range(5)]
        # the first segment waits for a's final record; the others are settled (the last is open)
        assert [p.name for p in log.segments()] == sorted(p.name for p in log.segments())
        assert len(log.segments()) == 2
        await log.append(query("a"), [answer(), answer("shadow", "student")], final=True)
        await log.close()

    asyncio.run(run())
    assert log.segments() == []
    assert {a["purpose"] for a in log.store.answers_for("a")} == {"serve", "shadow"}  # the final one


def test_a_record_the_store_rejects_moves_to_rejected_jsonl(tmp_path):
    log = traffic_log(tmp_path)

    async def run() -> None:
        await log.append(query("bad"), [_bad_answer()], final=True)
        await log.append(query("good", 1), [answer()], final=True)
        await log.close()

    asyncio.run(run())
    assert stored_ids(log.store) == ["good"]
    [entry] = [json.loads(line) for line in (tmp_path / "wal" / REJECTED).read_text().splitlines()]
    assert "role" in entry["error"] and entry["record"]["query"]["id"] == "bad"
    assert log.segments() == [] and log.rejected == 1 and log.idle  # nothing left to retry


def _bad_answer() -> AnswerRecord:
    return AnswerRecord(model="teacher", role="wizard", purpose="serve", text="4")


def test_replay_stores_the_final_record_else_the_preliminary_one(tmp_path):
    first = traffic_log(tmp_path)

    async def crash() -> None:  # both records on disk, nothing stored, then the process "dies"
        await first.append(query("x"), [answer()], final=False)
        await first.append(query("x"), [answer(), answer("shadow", "student")], final=True)
        await first.append(query("y", 1), [answer()], final=False)

    asyncio.run(crash())
    os.close(first._fd)  # what the kernel does for a dead process
    assert first.store.count() == 0

    second = TrafficLog(tmp_path / "wal", TrafficStore(tmp_path / "lancedb", StoreConfig(**SLOW)))
    assert asyncio.run(second.start()) == 2
    assert stored_ids(second.store) == ["x", "y"]
    assert {a["purpose"] for a in second.store.answers_for("x")} == {"serve", "shadow"}
    assert [a["purpose"] for a in second.store.answers_for("y")] == ["serve"]
    assert second.segments() == []


# ---- through the router -----------------------------------------------------------------------


class NoEmbedder:
    """Every request here carries its embedding."""

    async def aembed_one(self, text: str) -> np.ndarray:
        raise AssertionError("embedding expected in the request")

    def close(self) -> None:
        pass


def wal_config(home: Path, student_latency_ms: float = 0, **store: object) -> AcademyConfig:
    """A teacher and a student (both simulated), every familiar request shadowed, no registry."""

    def model(name: str, role: str, price: float, latency_ms: float) -> dict:
        options = {"error_rate": 0.0, "latency_ms": latency_ms}
        return {
            "name": name,
            "backend": "reference",
            "role": role,
            "price_in": price,
            "price_out": price,
            "options": options,
        }

    return AcademyConfig.model_validate(
        {
            "paths": {"home": str(home)},
            "models": [
                model("teacher", "teacher", 10.0, 0),
                model("student", "student", 0.1, student_latency_ms),
            ],
            "router": {
                "novel_similarity": 0.9,
                "shadow_rate": 1.0,
                "explore_rate": 0.0,
                "min_evidence": 0.5,
                "learned": {"enabled": False},
            },
            "judge": {"name": "reference", "cost_per_call": 0.0002},
            "delegation": {"enabled": False},
            "store": store,
        }
    )


def familiar_runtime(home: Path, store: TrafficStore | None = None, **config: object) -> Runtime:
    """A runtime whose store already knows one judged request near ``unit(0)``, so requests with
    that embedding are familiar and go to the teacher (the student has no evidence there)."""
    runtime = Runtime.build(wal_config(home, **config), embedder=NoEmbedder(), store=store)
    if runtime.store.get_query("seed") is None:
        seed = query("seed", 0, judged_models=["teacher"], judged_scores=[1.0])
        TrafficStore.log_many(runtime.store, [(seed, [answer(judge_score=1.0)])])  # past a FlakyStore
    return runtime


def ask(i: int, seed: int = 0) -> RouteRequest:
    return RouteRequest(f"What is {10 + i} plus 35?", "acme", f"r-{i}", embedding=unit(seed))


def wal_records(home: Path) -> list[WalRecord]:
    lines = [line for p in sorted((home / "wal").glob("seg-*.jsonl")) for line in p.read_bytes().splitlines()]
    return [decode_record(line) for line in lines]


def test_a_familiar_request_is_logged_before_the_response_and_stored_with_its_shadow_answers(tmp_path):
    runtime = familiar_runtime(tmp_path)

    async def run() -> None:
        await runtime.start()
        result = await runtime.router.route(ask(1))
        assert result.route == "familiar" and result.model == "teacher" and result.answer == "46"
        # acknowledged: the preliminary record is on disk, the shadow work has not run yet
        [record] = wal_records(tmp_path)
        assert (record.id, record.final, [a.purpose for a in record.answers]) == ("r-1", False, ["serve"])
        await runtime.router.drain()
        await runtime.aclose(close_embedder=False)

    asyncio.run(run())
    assert {a["purpose"] for a in runtime.store.answers_for("r-1")} == {"serve", "shadow"}
    assert runtime.store.get_query("r-1")["judged_models"]  # the final record's judgements
    assert runtime.traffic_log.segments() == []


class FlakyStore(TrafficStore):
    """LanceDB that fails every write while ``down``."""

    down = True
    failures = 0

    def log_many(self, items):
        if self.down:
            self.failures += 1
            raise OSError("lancedb: disk I/O error (injected)")
        return super().log_many(items)


def test_requests_are_answered_while_the_store_is_down_and_stored_when_it_recovers(tmp_path, caplog):
    home = tmp_path / "home"
    store = FlakyStore(home / "lancedb", StoreConfig())
    runtime = familiar_runtime(home, store=store)

    async def run() -> list:
        await runtime.start()
        results = [await runtime.router.route(ask(i, seed=100 + i)) for i in range(12)]  # novel
        await asyncio.sleep(0.5)  # the writer retries meanwhile
        assert store.failures >= 2 and store.count() == 1 and not runtime.router.idle
        store.down = False
        await runtime.router.drain()
        await runtime.aclose(close_embedder=False)
        return results

    with caplog.at_level(logging.WARNING, logger="academy.wal"):
        results = asyncio.run(run())
    assert [r.answer for r in results] == [str(45 + i) for i in range(12)]
    assert stored_ids(store) == sorted([f"r-{i}" for i in range(12)] + ["seed"])
    assert caplog.text.count("traffic store write failed") == 1  # once per failure streak
    assert "recovered" in caplog.text and runtime.traffic_log.segments() == []


def test_requests_acknowledged_while_the_store_is_down_are_stored_after_a_restart(tmp_path):
    home = tmp_path / "home"
    store = FlakyStore(home / "lancedb", StoreConfig())
    first = familiar_runtime(home, store=store)

    async def serve_then_stop() -> None:
        await first.start()
        for i in range(5):
            await first.router.route(ask(i, seed=200 + i))
        await first.stop(log_timeout=0.3)  # gives up on the store; the records stay on disk

    asyncio.run(serve_then_stop())
    assert store.count() == 1 and len(first.traffic_log.segments()) == 1

    second = familiar_runtime(home)  # a healthy store on the same home
    asyncio.run(second.start())
    assert stored_ids(second.store) == sorted([f"r-{i}" for i in range(5)] + ["seed"])
    assert second.traffic_log.segments() == []
    asyncio.run(second.aclose(close_embedder=False))


CRASH = """
import asyncio, json, os, signal, sys
from pathlib import Path
from tests.test_wal import ask, familiar_runtime

async def main():
    runtime = familiar_runtime(Path(sys.argv[1]), student_latency_ms=600_000, **json.loads(sys.argv[2]))
    await runtime.start()
    for i in range(int(sys.argv[3])):
        result = await runtime.router.route(ask(i))
        assert result.route == "familiar", result.route
    print("acknowledged", runtime.store.count(), flush=True)
    os.kill(os.getpid(), signal.SIGKILL)  # mid-shadow (the student sleeps), nothing flushed

asyncio.run(main())
"""


def test_a_killed_process_loses_no_acknowledged_request(tmp_path):
    n = 20
    done = subprocess.run(
        [sys.executable, "-c", CRASH, str(tmp_path), json.dumps(SLOW), str(n)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env=os.environ | {"PYTHONPATH": str(REPO)},
    )
    assert done.returncode == -9, done.stderr[-3000:]
    assert "acknowledged 1" in done.stdout  # only the seed request reached LanceDB before the kill
    assert len(wal_records(tmp_path)) == n

    runtime = familiar_runtime(tmp_path, **SLOW)
    asyncio.run(runtime.start())
    ids = list(runtime.store.queries_frame()["id"])
    assert sorted(ids) == sorted([f"r-{i}" for i in range(n)] + ["seed"])  # each exactly once
    # the shadow work never finished: the preliminary records (the served answer) were replayed
    assert all([a["purpose"] for a in runtime.store.answers_for(f"r-{i}")] == ["serve"] for i in range(n))
    assert runtime.traffic_log.segments() == []
    asyncio.run(runtime.aclose(close_embedder=False))


def test_the_writer_keeps_the_store_compacted_as_traffic_grows(tmp_path):
    # one LanceDB write per request; the seed row and the 4 requests make 5 pending rows
    runtime = familiar_runtime(tmp_path, maintenance_every=5, log_batch=1)

    async def run() -> None:
        await runtime.start()
        for i in range(4):
            await runtime.router.route(ask(i, seed=300 + i))
        await runtime.router.drain()
        await runtime.aclose(close_embedder=False)

    asyncio.run(run())
    assert runtime.store.count() == 5
    assert runtime.store.queries_table.stats()["fragment_stats"]["num_fragments"] == 1  # merged


def test_a_traffic_log_that_cannot_be_written_refuses_the_request_with_a_503(tmp_path, embedder):
    from fastapi.testclient import TestClient

    from academy.server import create_app

    cfg = wal_config(tmp_path)
    (tmp_path / "wal").write_text("a file where the log's folder should be")  # a broken disk, in effect
    runtime = Runtime.build(cfg, embedder=embedder)
    body = {"model": "academy", "messages": [{"role": "user", "content": "What is 2 plus 2?"}]}
    with TestClient(create_app(cfg, runtime)) as client:
        response = client.post("/v1/chat/completions", json=body)
    asyncio.run(runtime.aclose(close_embedder=False))
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    error = response.json()["error"]
    assert error["code"] == "traffic_log_unavailable" and "cannot write the traffic log" in error["message"]
    assert runtime.store.count() == 0  # not acknowledged, so not stored either
