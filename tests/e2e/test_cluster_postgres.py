"""The ``cluster`` profile end to end on real servers: PostgreSQL, an MLflow tracking server on it, a
Prefect server with a process worker, and the router reading that registry.

Everything runs on 127.0.0.1 in temporary directories, started here and stopped after the module.
PostgreSQL comes from the Debian package (``make postgres`` / scripts/install_postgres.sh installs it
when missing); the test skips, saying why, only when it is not installed or cannot start. PostgreSQL
refuses to run as root, so as root the cluster runs as the ``postgres`` system user (``runuser``).

The night goes through the deployment path operators use: ``prefect deploy`` of the repo's
prefect.yaml, ``prefect deployment run --watch``, and a process worker picking the run up. A short
night (20 steps on one domain): the module took 3 min 16 s on 2 shared cores (target: 2 min).
"""

from __future__ import annotations

import asyncio
import glob
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from academy.config import AcademyConfig
from academy.runtime import Runtime
from bench.cycle import write_config
from registry.model_registry import ModelRegistry
from tests.factories import REPO
from tests.factories.night import night_config, route

POOL = "academy-process"  # prefect.yaml's pool; this Prefect server is private to the test
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def pg_bin() -> Path | None:
    """The newest installed PostgreSQL's server binaries (Debian keeps them off PATH)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def as_pg_user(cmd: list[str], owner: str | None) -> list[str]:
    """Prefix ``runuser -u postgres --`` when we are root (PostgreSQL will not run as root)."""
    return ["runuser", "-u", owner, "--", *cmd] if owner else cmd


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1 with an ``mlflow`` database; yields its URI."""
    bindir = pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (make postgres / scripts/install_postgres.sh installs it)")
    owner = None
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres").pw_name
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' system user to run PostgreSQL as")
    root = Path(tempfile.mkdtemp(prefix="academy-pg-", dir="/tmp"))
    data, port = root / "data", free_port()
    if owner:
        shutil.chown(root, owner, owner)
    try:
        run(
            as_pg_user(
                [str(bindir / "initdb"), "-D", str(data), "-U", "academy", "--auth=trust", "-E", "UTF8"],
                owner,
            )
        )
        opts = f"-p {port} -k {root} -c listen_addresses={HOST} -c fsync=off"
        run(
            as_pg_user(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    opts,
                    "-l",
                    str(root / "pg.log"),
                    "-w",
                    "start",
                ],
                owner,
            )
        )
    except (RuntimeError, OSError) as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.skip(f"PostgreSQL could not start: {exc}")
    try:
        run([str(bindir / "createdb"), "-h", HOST, "-p", str(port), "-U", "academy", "mlflow"])
        yield f"postgresql+psycopg2://academy@{HOST}:{port}/mlflow"
    finally:
        subprocess.run(
            as_pg_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"], owner),
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)


class Service:
    """A background server with its log; stopped with its whole process group."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name, self.log = name, log_dir / f"{name}.log"
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                cmd, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def wait_http(self, url: str, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise RuntimeError(f"{self.name} did not answer {url} in {seconds}s:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def base_env(tmp: Path) -> dict[str, str]:
    """Offline, no telemetry, and this worktree's modules first for every subprocess."""
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_HOME": str(tmp / "prefect"),
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "ACADEMY_REPO": str(REPO),
    }


@pytest.fixture(scope="module")
def servers(postgres, tmp_path_factory) -> Iterator[dict[str, str]]:
    """MLflow on PostgreSQL and a Prefect server, started side by side (their start-ups overlap)."""
    tmp = tmp_path_factory.mktemp("cluster-servers")
    env = base_env(tmp)
    env.pop("PREFECT_API_URL", None)  # the server itself must not point at another API
    # MLflow 3's server otherwise starts ~7 background job consumers (GenAI jobs) we never use.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    mlflow_port, prefect_port = free_port(), free_port()
    mlflow = Service(
        "mlflow",
        [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(mlflow_port), "--workers", "1",
         "--backend-store-uri", postgres, "--artifacts-destination", str(tmp / "artifacts")],
        env, tmp,
    )  # fmt: skip
    prefect = Service(
        "prefect-server",
        [sys.executable, "-m", "prefect", "server", "start", "--host", HOST, "--port", str(prefect_port)],
        env, tmp,
    )  # fmt: skip
    started = [mlflow, prefect]
    try:
        mlflow.wait_http(f"http://{HOST}:{mlflow_port}/health", 180)
        prefect.wait_http(f"http://{HOST}:{prefect_port}/api/health", 180)
        yield {
            "mlflow": f"http://{HOST}:{mlflow_port}",
            "prefect": f"http://{HOST}:{prefect_port}/api",
            "tmp": str(tmp),
        }
    finally:
        for service in reversed(started):
            service.stop()


def cluster_config(home: Path, student: Path, servers: dict[str, str]) -> AcademyConfig:
    """The tiny night of tests/factories/night.py, on the cluster profile (40 steps: mechanics only)."""
    cfg = night_config(home, student, steps=20)
    return AcademyConfig.model_validate(
        cfg.model_dump(mode="json", exclude={"registry": {"tracking_uri", "artifact_location"}})
        | {
            "profile": "cluster",
            "cluster": {
                "mlflow_tracking_uri": servers["mlflow"],
                "lancedb_uri": str(home / "shared-lancedb"),
                "prefect_api_url": servers["prefect"],
                "work_pool": POOL,
            },
        }
    )


@pytest.fixture(scope="module")
def night(servers, tmp_path_factory, tiny_student_dir, embedder) -> dict:
    """A day of traffic, then nightly_evolution deployed from prefect.yaml and run by a process worker."""
    home = tmp_path_factory.mktemp("cluster-night")
    student = home / "students" / "student-1"
    shutil.copytree(tiny_student_dir, student)
    cfg = cluster_config(home, student, servers)
    route(cfg, embedder, seed=11, n=120)
    config_path = write_config(cfg, home / "academy.yaml")
    env = base_env(Path(servers["tmp"])) | {"PREFECT_API_URL": servers["prefect"]}
    prefect = [sys.executable, "-m", "prefect"]
    run([*prefect, "work-pool", "create", POOL, "--type", "process"], env=env, cwd=REPO)
    run([*prefect, "--no-prompt", "deploy", "--name", "nightly-evolution"], env=env, cwd=REPO)
    worker = Service(
        "prefect-worker",
        [*prefect, "worker", "start", "--pool", POOL, "--type", "process", "--limit", "1"],
        env,
        home,
    )
    try:
        started = time.monotonic()
        done = subprocess.run(
            [*prefect, "deployment", "run", "nightly_evolution/nightly-evolution", "--watch", "--watch-timeout", "600",
             "--param", f"config_path={config_path}", "--param", f"home={home}"],
            env=env, cwd=REPO, capture_output=True, text=True, timeout=660,
        )  # fmt: skip
        seconds = time.monotonic() - started
    finally:
        worker.stop()
    assert done.returncode == 0 and "Completed" in done.stdout, (
        f"{done.stdout}\n{done.stderr}\nworker log:\n{worker.log.read_text()[-5000:]}"
    )
    return {"cfg": cfg, "home": home, "seconds": seconds, "output": done.stdout}


def test_postgres_backs_the_mlflow_server(servers, postgres):
    """The tracking server really stores in PostgreSQL: its tables exist in the mlflow database."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres)
    with engine.connect() as conn:
        tables = set(sqlalchemy.inspect(conn).get_table_names())
    engine.dispose()
    assert {"experiments", "runs", "registered_models", "model_versions"} <= tables


def test_night_through_the_worker_registers_in_the_server(night, postgres):
    cfg = night["cfg"]
    registry = ModelRegistry.from_config(cfg)
    assert registry.tracking_uri.startswith("http://")  # the profile's server, not SQLite in home
    production = registry.production("student-1")
    assert production is not None and production.version >= 1
    assert registry.version("student-1", 1).stage in {"production", "archived"}
    assert len(registry.client.search_model_versions("name='student-1'")) >= 2  # bootstrap + candidate
    import sqlalchemy

    engine = sqlalchemy.create_engine(postgres)
    with engine.connect() as conn:
        rows = conn.execute(
            sqlalchemy.text("select version from model_versions where name='student-1'")
        ).all()
    engine.dispose()
    assert {r[0] for r in rows} >= {1, 2}  # the same versions, read straight from PostgreSQL


def test_router_serves_the_production_version_from_that_registry(night, embedder):
    cfg = night["cfg"]
    expected = str(ModelRegistry.from_config(cfg).production("student-1").version)
    _, serving = route(cfg, embedder, seed=12, n=8)
    assert serving == expected  # weights downloaded through the server's proxied artifact store

    async def store_rows() -> int:
        runtime = Runtime.build(cfg, embedder=embedder)
        try:
            return runtime.store.count()
        finally:
            await runtime.aclose(close_embedder=False)

    assert asyncio.run(store_rows()) >= 128  # both days landed in the profile's LanceDB location
    assert (night["home"] / "shared-lancedb").is_dir() and not (night["home"] / "lancedb").exists()
