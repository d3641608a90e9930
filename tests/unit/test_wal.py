"""The write-ahead traffic log on its own: record format, segments, rejection, and replay after a
crash into a fresh store. Through the router, a LanceDB outage and a real SIGKILL:
tests/integration/test_wal.py."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from academy.config import StoreConfig
from academy.store import AnswerRecord, QueryRecord, TrafficStore
from academy.wal import REJECTED, TrafficLog, WalRecord, decode_record, encode_record
from tests.factories.vectors import unit
from tests.factories.wal import SLOW, answer, query, stored_ids


def traffic_log(tmp_path: Path, **kwargs: object) -> TrafficLog:
    store = TrafficStore(tmp_path / "lancedb", StoreConfig(**SLOW))
    return TrafficLog(tmp_path / "wal", store, **kwargs)


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
