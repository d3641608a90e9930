"""Load benchmark: ``academy bench load [--clients N] [--seconds M] [--kill] [--json]``.

N asyncio clients share one keep-alive ``httpx.AsyncClient`` and send school queries for M seconds
to a real ``academy serve`` process on 127.0.0.1 (a reference teacher and a tiny hf student, the
store seeded so familiar queries go to the student). Every request carries a unique
``X-Request-ID``; a 200 is an *acknowledged* request. After the load the server is stopped
gracefully and the store is opened directly: every acknowledged id must be a row in ``queries``.

``--kill`` SIGKILLs the server's process group half-way, restarts it on the same home and port,
and lets the clients carry on (they retry the same id after a connection error, as an SDK would):
rows acknowledged before the kill must survive it (the write-ahead traffic log's promise).

Figures: ``requests`` counts every attempt (retries and refused connections included), ``rps`` is
acknowledged requests per second of load, p50/p99 are over acknowledged requests. Targets are
printed, never asserted: on 2 cores with tiny students >= 100 req/s, 0 5xx, 0 lost rows.
"""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import yaml

from academy.config import AcademyConfig
from academy.inprocess import free_port
from academy.school import School
from models.student import TINY_STUDENT

REPO = Path(__file__).resolve().parents[1]
TENANT = "bench"  # the tenant bench.router_overhead.seed_familiar_traffic seeds
STUDENT = "student-1"
SEED_QUERIES = 400  # past traffic on which the student scored well: familiar routing from request 1
LOAD_QUERIES = 2000  # distinct query texts cycled through by the clients
RETRY_SLEEP_S = 0.1  # after a refused or dropped connection (the server is down or restarting)
MAX_BACKOFF_S = 1.0  # the most a client honours of a 429/503 Retry-After before moving on
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 60.0
TARGET_RPS = 100


@dataclass(frozen=True)
class LoadSettings:
    """The run's knobs; ``check`` refuses nonsense before anything is built."""

    clients: int = 32
    seconds: float = 20.0
    kill: bool = False
    teacher_latency_ms: float = 20.0
    student_dir: Path | None = None
    home: Path | None = None
    api_key: str | None = None

    def check(self) -> None:
        if self.clients < 1:
            raise ValueError(f"--clients must be at least 1, got {self.clients}")
        if not 0 < self.seconds < math.inf:
            raise ValueError(f"--seconds must be a finite number more than 0, got {self.seconds}")
        if self.teacher_latency_ms < 0:
            raise ValueError(f"--teacher-latency-ms must be >= 0, got {self.teacher_latency_ms}")
        if self.student_dir is not None and not (self.student_dir / "config.json").is_file():
            raise ValueError(f"--student-dir {self.student_dir} is not a student (no config.json)")


@dataclass
class Attempt:
    """One HTTP attempt; ``status`` None is a connection error (no response at all)."""

    request_id: str
    status: int | None
    latency_ms: float
    route: str | None = None
    retry_after: float | None = None
    done_at: float = field(default_factory=time.monotonic)


@dataclass
class Tally:
    """Every attempt of the run, appended by the clients (one event loop: no lock needed)."""

    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> list[Attempt]:
        return [a for a in self.attempts if a.status == 200]


# ---- set-up -------------------------------------------------------------------------------------


def bench_config(home: Path, student_dir: Path, teacher_latency_ms: float, port: int) -> AcademyConfig:
    """A reference teacher and one tiny hf student on ``home``; everything else is the default."""
    teacher = {
        "name": "teacher",
        "backend": "reference",
        "role": "teacher",
        "price_in": 5.0,
        "price_out": 15.0,
        "options": {"error_rate": 0.0, "latency_ms": teacher_latency_ms},
    }
    student = {
        "name": STUDENT,
        "backend": "hf",
        "role": "student",
        "price_in": 0.05,
        "price_out": 0.1,
        "options": {"path": str(student_dir), "max_new_tokens": 8},
    }
    return AcademyConfig.model_validate(
        {
            "paths": {"home": str(home)},
            "models": [teacher, student],
            "judge": {"name": "reference"},
            "student": TINY_STUDENT.model_dump(),
            "server": {"host": "127.0.0.1", "port": port},
        }
    )


def ensure_student(home: Path, given: Path | None, log: Callable[[str], None]) -> Path:
    """The student to serve: ``given``, one left in ``home`` by an earlier run, or a new tiny one."""
    if given is not None:
        return given.resolve()
    path = home / "students" / STUDENT
    if (path / "config.json").is_file():
        return path
    from models.student import create_student

    log(f"creating a tiny student at {path} ({TINY_STUDENT.warm_start_steps} warm-start steps)")
    examples = School(seed=1).generate(TINY_STUDENT.warm_start_examples)
    corpus = [t for e in examples for t in (e.query, e.reference, e.reasoning or "")]
    create_student(path, TINY_STUDENT, corpus, warm_start=[(e.query, e.reference) for e in examples])
    return path


def seed_store(cfg: AcademyConfig, embedder: Any | None) -> None:
    """Past traffic on which the student scored 1.0, written before the server opens the store."""
    from academy.embedder import Embedder
    from academy.store import TrafficStore
    from bench.router_overhead import seed_familiar_traffic

    own = embedder is None
    embedder = embedder or Embedder(cfg.embedder)
    try:
        queries = [e.query for e in School(seed=7).generate(SEED_QUERIES)]
        seed_familiar_traffic(TrafficStore(cfg.paths.store, cfg.store), embedder, queries)
    finally:
        if own:
            embedder.close()


def write_config(cfg: AcademyConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    return path


# ---- the server process -------------------------------------------------------------------------


class ServerProcess:
    """``academy serve`` as a child in its own process group, so SIGKILL takes all of it down.

    Run as ``python -m academy.cli`` from this checkout (not the installed console script), so the
    code measured is the code beside this file.
    """

    def __init__(self, config_file: Path, home: Path, port: int, log_file: Path) -> None:
        self.config_file, self.home, self.port, self.log_file = config_file, home, port, log_file
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [sys.executable, "-m", "academy.cli", "serve", "--config", str(self.config_file)]
        command += ["--home", str(self.home), "--port", str(self.port)]
        env = os.environ | {
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
        }
        with self.log_file.open("ab") as out:
            self.proc = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, timeout: float = START_TIMEOUT_S) -> float:
        """Seconds until ``/health`` answers; a server that dies or hangs is an error with its log."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=2) as http:
            while time.monotonic() - started < timeout:
                if self.proc is None or self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited while starting:\n{self.log_tail()}")
                try:
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return time.monotonic() - started
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        self.kill()
        raise RuntimeError(f"the server did not answer /health within {timeout:.0f} s:\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown hook, no flush (a crash, a power cut)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> bool:
        """SIGTERM and wait (uvicorn finishes in-flight requests, the lifespan drains logging);
        False if it had to be killed after ``timeout`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill()
            return False

    def log_tail(self, lines: int = 30) -> str:
        text = self.log_file.read_text(errors="replace") if self.log_file.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


# ---- the clients --------------------------------------------------------------------------------


def chat_body(text: str) -> dict[str, Any]:
    return {"model": "academy", "messages": [{"role": "user", "content": text}]}


async def send_one(http: httpx.AsyncClient, request_id: str, text: str) -> Attempt:
    started = time.perf_counter()
    try:
        response = await http.post(
            "/v1/chat/completions", json=chat_body(text), headers={"X-Request-ID": request_id}
        )
    except httpx.TransportError:  # refused, reset, timed out: the server is down or stuck
        return Attempt(request_id, None, (time.perf_counter() - started) * 1000)
    latency = (time.perf_counter() - started) * 1000
    attempt = Attempt(request_id, response.status_code, latency)
    if response.status_code == 200:
        try:
            attempt.route = response.json()["academy"]["route"]
        except (ValueError, KeyError, TypeError):
            attempt.route = "(no academy.route)"
    elif response.status_code in (429, 503):
        attempt.retry_after = retry_after(response)
    return attempt


def retry_after(response: httpx.Response) -> float:
    try:
        return min(MAX_BACKOFF_S, max(0.0, float(response.headers.get("retry-after", RETRY_SLEEP_S))))
    except ValueError:
        return RETRY_SLEEP_S


async def client(
    http: httpx.AsyncClient, number: int, queries: list[str], deadline: float, tally: Tally, run: str
) -> None:
    """Send requests back to back until ``deadline``; a connection error retries the same id
    (idempotent on the server), a 429/503 backs off for its Retry-After, anything else moves on."""
    sent = 0
    while time.monotonic() < deadline:
        request_id = f"{run}-{number}-{sent}"
        text = queries[(number * 7919 + sent) % len(queries)]
        sent += 1
        while time.monotonic() < deadline:
            attempt = await send_one(http, request_id, text)
            tally.attempts.append(attempt)
            if attempt.status is None:
                await asyncio.sleep(RETRY_SLEEP_S)
                continue
            if attempt.retry_after is not None:
                await asyncio.sleep(attempt.retry_after)
            break


def http_client(url: str, clients: int, api_key: str | None) -> httpx.AsyncClient:
    headers = {"X-Academy-Tenant": TENANT} | ({"Authorization": f"Bearer {api_key}"} if api_key else {})
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    return httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60)


async def warm_up(http: httpx.AsyncClient, clients: int, queries: list[str], run: str) -> None:
    """Untimed: the first requests load the student's weights and warm the embedder."""
    await asyncio.gather(*(send_one(http, f"{run}-warmup-{i}", queries[-1 - i]) for i in range(clients)))


async def kill_and_restart(server: ServerProcess, after_s: float, events: dict[str, float]) -> None:
    await asyncio.sleep(after_s)
    server.kill()
    events["killed_at_s"] = after_s
    server.start()
    events["restart_s"] = await server.wait_ready()
    events["ready_again_at"] = time.monotonic()


async def drive(
    server: ServerProcess, settings: LoadSettings, queries: list[str], run: str
) -> dict[str, Any]:
    """Warm up, then the timed load (with the kill and restart in ``--kill`` mode)."""
    tally, events = Tally(), {}
    async with http_client(server.url, settings.clients, settings.api_key) as http:
        await warm_up(http, settings.clients, queries, run)
        started = time.monotonic()
        deadline = started + settings.seconds
        killer = None
        if settings.kill:
            killer = asyncio.create_task(kill_and_restart(server, settings.seconds / 2, events))
        await asyncio.gather(
            *(client(http, n, queries, deadline, tally, run) for n in range(settings.clients))
        )
        elapsed = time.monotonic() - started
        if killer is not None:
            await killer  # the restarted server must be up (and have replayed its log) before we stop it
    return {"tally": tally, "elapsed_s": elapsed, **events}


# ---- checking and reporting ---------------------------------------------------------------------


def stored_ids(cfg: AcademyConfig, ids: set[str]) -> set[str]:
    """Which of ``ids`` are rows of ``queries`` (read straight from the store, the server stopped)."""
    from academy.store import TrafficStore

    store = TrafficStore(cfg.paths.store, cfg.store)
    column = store.queries_table.search().select(["id"]).limit(None).to_arrow().column("id")
    return ids & set(column.to_pylist())


def summarise(settings: LoadSettings, run: dict[str, Any], stored: set[str]) -> dict[str, Any]:
    tally: Tally = run["tally"]
    acknowledged = {a.request_id for a in tally.acknowledged}
    latencies = np.asarray([a.latency_ms for a in tally.acknowledged] or [np.nan])
    statuses = Counter(a.status for a in tally.attempts if a.status is not None)
    report = {
        "mode": "kill" if settings.kill else "normal",
        "clients": settings.clients,
        "seconds": settings.seconds,
        "elapsed_s": round(run["elapsed_s"], 2),
        "requests": len(tally.attempts),
        "rps": round(len(acknowledged) / run["elapsed_s"], 1),
        "p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "errors_5xx": sum(n for code, n in statuses.items() if code >= 500),
        "errors_4xx": {str(code): n for code, n in sorted(statuses.items()) if 400 <= code < 500},
        "connection_errors": sum(1 for a in tally.attempts if a.status is None),
        "acknowledged": len(acknowledged),
        "stored": len(stored),
        "lost": len(acknowledged - stored),
        "lost_sample": sorted(acknowledged - stored)[:5],
        "routes": dict(Counter(a.route for a in tally.acknowledged)),
    }
    if "ready_again_at" in run:  # kill mode: how much of the load the restarted server answered
        later = {a.request_id for a in tally.acknowledged if a.done_at >= run["ready_again_at"]}
        report["acknowledged_after_restart"] = len(later)
    return report | {k: round(run[k], 2) for k in ("killed_at_s", "restart_s") if k in run}


def format_report(report: dict[str, Any]) -> str:
    """The human-readable table, with the issue's targets marked met or missed."""

    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    lines = [
        f"academy bench load: {report['clients']} clients x {report['seconds']} s, {report['mode']} mode",
        f"  requests sent      {report['requests']} (every attempt, retries included)",
        f"  acknowledged       {report['acknowledged']} = {report['rps']} req/s "
        f"(target >= {TARGET_RPS}: {verdict(report['rps'] >= TARGET_RPS)})",
        f"  latency            p50 {report['p50_ms']} ms, p99 {report['p99_ms']} ms",
        f"  5xx                {report['errors_5xx']} (target 0: {verdict(report['errors_5xx'] == 0)})",
        f"  4xx by code        {report['errors_4xx'] or 'none'}",
        f"  connection errors  {report['connection_errors']}",
        f"  stored / lost      {report['stored']} / {report['lost']} (target 0 lost: {verdict(report['lost'] == 0)})",
        f"  routes             {report['routes']}",
    ]
    if "killed_at_s" in report:
        lines.append(
            f"  SIGKILL at {report['killed_at_s']} s; answering again {report['restart_s']} s later "
            f"({report.get('acknowledged_after_restart', 0)} acknowledged by the restarted server)"
        )
    return "\n".join(lines)


# ---- the whole run ------------------------------------------------------------------------------


def run_load_bench(
    settings: LoadSettings, embedder: Any | None = None, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Set up a home, start the server, load it, stop it, check the store; returns the report.

    ``embedder`` (optional) seeds the store without loading a second MiniLM (tests share theirs).
    """
    settings.check()
    with tempfile.TemporaryDirectory(prefix="academy-load-") as tmp:
        home = (settings.home or Path(tmp)).resolve()
        home.mkdir(parents=True, exist_ok=True)
        return run_in_home(settings, home, embedder, log)


def run_in_home(
    settings: LoadSettings, home: Path, embedder: Any | None, log: Callable[[str], None]
) -> dict[str, Any]:
    student = ensure_student(home, settings.student_dir, log)
    cfg = bench_config(home, student, settings.teacher_latency_ms, free_port())
    seed_store(cfg, embedder)
    server = ServerProcess(write_config(cfg, home / "load.yaml"), home, cfg.server.port, home / "server.log")
    server.start()
    try:
        log(f"server started in {asyncio.run(server.wait_ready()):.1f} s on {server.url}; loading ...")
        queries = [e.query for e in School(seed=11).generate(LOAD_QUERIES)]
        run = asyncio.run(drive(server, settings, queries, uuid.uuid4().hex[:12]))
    finally:
        graceful = server.stop()
    report = summarise(settings, run, stored_ids(cfg, {a.request_id for a in run["tally"].acknowledged}))
    return report | {"graceful_stop": graceful, "home": str(home) if settings.home else None}
