"""The write-ahead traffic log behind the router: no acknowledged request lost to a LanceDB outage or
a crash (a real SIGKILL of a real process). The log on its own: tests/unit/test_wal.py."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

from academy.config import StoreConfig
from academy.runtime import Runtime
from academy.store import TrafficStore
from academy.wal import WalRecord, decode_record
from tests.factories import REPO
from tests.factories.wal import SLOW, ask, familiar_runtime, stored_ids, wal_config

# ---- through the router -----------------------------------------------------------------------


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
from tests.factories.wal import ask, familiar_runtime

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


def test_the_routers_quality_budget_survives_a_restart(tmp_path):
    """The quality budget (academy/routing/budget.py) is saved in home when the runtime stops and
    loaded when the next one starts: a restart neither forgets a deficit nor starts afresh."""

    async def serve(n: int) -> tuple[float, int]:
        runtime = familiar_runtime(tmp_path)
        runtime.config.router.budget.enabled = True  # the router's bucket shares this config
        await runtime.start()
        for i in range(n):
            assert (await runtime.router.route(ask(i))).model == "teacher"
        await runtime.aclose(close_embedder=False)
        return runtime.router.budget.tokens, runtime.router.budget.served

    tokens, served = asyncio.run(serve(2))
    assert served == 2 and tokens > 0
    assert json.loads((tmp_path / "router" / "quality_budget.json").read_text())["served"] == 2
    again, served = asyncio.run(serve(1))
    assert served == 3 and again > tokens
