"""Profiles: ``embedded`` keeps everything in ``paths.home``; ``cluster`` swaps in the servers of the
``cluster`` section wherever the registry, the store, the flows and the scripts read them. Inside a
flow run: tests/integration/test_profiles.py; `academy config show`: tests/e2e/test_profiles.py."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefect.task_runners import ThreadPoolTaskRunner

from academy.config import AcademyConfig, ConfigError, load_config
from academy.execution import effective_settings, prefect_env, task_runner
from academy.store import TrafficStore
from registry.model_registry import ModelRegistry
from tests.factories.profiles import CLUSTER


def cluster(home: Path, **extra: object) -> AcademyConfig:
    return AcademyConfig.model_validate(
        {"paths": {"home": str(home)}, "profile": "cluster", "cluster": CLUSTER | extra}
    )


def test_embedded_profile_keeps_everything_in_home(tmp_path):
    cfg = AcademyConfig.model_validate({"paths": {"home": str(tmp_path)}})
    assert cfg.profile == "embedded"
    assert ModelRegistry.from_config(cfg).tracking_uri == f"sqlite:///{(tmp_path / 'mlflow.db').resolve()}"
    assert cfg.paths.store == tmp_path / "lancedb"
    assert cfg.prefect_api_url == "" and prefect_env(cfg) == {}
    assert cfg.work_pool == "academy-process"
    assert isinstance(task_runner(cfg), ThreadPoolTaskRunner)


def test_cluster_profile_replaces_every_location(tmp_path):
    cfg = cluster(tmp_path)
    registry = ModelRegistry.from_config(cfg)
    assert registry.tracking_uri == "http://mlflow.internal:5000"
    assert registry.artifact_location in ("", None)  # the server's proxied store, not a local folder
    assert cfg.paths.store == "s3://academy-traffic/prod"  # a string: Path would fold "//"
    assert prefect_env(cfg) == {"PREFECT_API_URL": "http://prefect.internal:4200/api"}
    assert cfg.work_pool == "academy-k8s"
    settings = effective_settings(cfg)
    assert settings["lancedb uri"] == "s3://academy-traffic/prod" and settings["task runner"] == "sequential"


def test_cluster_profile_is_ignored_until_selected(tmp_path):
    """A filled-in cluster section changes nothing while the profile is embedded."""
    cfg = AcademyConfig.model_validate({"paths": {"home": str(tmp_path)}, "cluster": CLUSTER})
    assert cfg.paths.store == tmp_path / "lancedb" and cfg.registry.tracking_uri == ""


def test_traffic_store_opens_a_uri(tmp_path):
    store = TrafficStore((tmp_path / "db").as_uri())
    assert store.uri.startswith("file://") and isinstance(store.path, str) and store.count() == 0
    assert (tmp_path / "db" / "queries.lance").is_dir()


def test_dask_runner_from_the_cluster_profile(tmp_path):
    from prefect_dask import DaskTaskRunner

    local = task_runner(cluster(tmp_path, task_runner="dask", dask={"n_workers": 3}))
    assert isinstance(local, DaskTaskRunner)
    assert local.cluster_kwargs["n_workers"] == 3 and local.address is None
    remote = task_runner(cluster(tmp_path, task_runner="dask", dask={"address": "tcp://dask:8786"}))
    assert remote.address == "tcp://dask:8786"


def test_local_dask_workers_keep_glibcs_dynamic_malloc(tmp_path):
    """Dask's nanny would set MALLOC_TRIM_THRESHOLD_=65536 in each worker: a training step on one
    thread took about twice as long with it (bench/step_scaling.py). The local runner unsets it."""
    import dask
    from distributed.nanny import _get_env_variables

    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 65536}):
        task_runner(cluster(tmp_path, task_runner="dask"))
        assert "MALLOC_TRIM_THRESHOLD_" not in _get_env_variables("distributed.nanny.pre-spawn-environ")


def test_local_dask_workers_share_the_machines_cores(tmp_path):
    """Local workers register their training in one directory and split the cores; other work runs
    on cores // workers threads, tokenizers on one. Two workers each taking both cores of this
    machine trained 4x slower per step than one alone (bench/sft_pair.py)."""
    from academy.execution import worker_thread_env

    runner = task_runner(cluster(tmp_path, task_runner="dask", dask={"n_workers": 2}))
    env = runner.cluster_kwargs["env"]
    assert env["ACADEMY_TRAIN_SHARE"].endswith(f"academy-trainers-{os.getuid()}")
    assert env["OMP_NUM_THREADS"] == str(max(1, (os.cpu_count() or 1) // 2))
    assert env["TOKENIZERS_PARALLELISM"] == "false"
    assert worker_thread_env(2, cores=16)["OMP_NUM_THREADS"] == "8"
    assert worker_thread_env(4, cores=2)["OMP_NUM_THREADS"] == "1"  # never zero threads


def test_trainers_sharing_a_machine_split_its_cores_and_take_back_freed_ones(tmp_path, monkeypatch):
    """Another live trainer registered: this one takes half the cores; once it leaves (or its
    process is dead), a rebalance takes them all. Torch's own count is restored on exit."""
    import torch

    from models.threads import training_threads

    cores = os.cpu_count() or 1
    with subprocess.Popen([sys.executable, "-c", "pass"]) as dead:
        dead.wait()
    before = torch.get_num_threads()
    monkeypatch.setenv("ACADEMY_TRAIN_SHARE", str(tmp_path))
    other = tmp_path / f"{socket.gethostname()}-{os.getppid()}.trainer"
    other.touch()
    gone = tmp_path / f"{socket.gethostname()}-{dead.pid}.trainer"
    gone.touch()
    with training_threads() as rebalance:
        assert torch.get_num_threads() == max(1, cores // 2) and not gone.exists()
        assert len(list(tmp_path.glob("*.trainer"))) == 2
        other.unlink()
        assert rebalance() == cores == torch.get_num_threads()
    assert torch.get_num_threads() == before and not list(tmp_path.glob("*.trainer"))


def test_a_fixed_training_thread_count_wins_and_bad_ones_are_refused(tmp_path, monkeypatch):
    import torch

    from models.threads import training_threads

    monkeypatch.setenv("ACADEMY_TRAIN_SHARE", str(tmp_path))
    monkeypatch.setenv("ACADEMY_TRAIN_THREADS", "1")
    with training_threads() as rebalance:
        assert torch.get_num_threads() == 1 == rebalance()
    monkeypatch.setenv("ACADEMY_TRAIN_THREADS", "two")
    with (
        pytest.raises(ValueError, match="ACADEMY_TRAIN_THREADS must be a positive whole number"),
        training_threads(),
    ):
        pass
    assert not list(tmp_path.glob("*.trainer"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"profile": "kubernetes"}, "'embedded' or 'cluster'"),
        ({"profile": "cluster"}, "needs cluster.mlflow_tracking_uri, cluster.lancedb_uri"),
        (
            {"profile": "cluster", "cluster": CLUSTER | {"mlflow_tracking_uri": "mlflow:5000"}},
            "tracking server",
        ),
        ({"profile": "cluster", "cluster": CLUSTER | {"prefect_api_url": "prefect:4200"}}, "http(s) URL"),
        ({"profile": "cluster", "cluster": CLUSTER | {"task_runner": "ray"}}, "'sequential' or 'dask'"),
        ({"cluster": {"dask": {"n_workers": 0}}}, "greater than or equal to 1"),
        ({"cluster": {"mlflow_uri": "http://x"}}, "Extra inputs are not permitted"),
    ],
)
def test_bad_profile_values_are_refused_clearly(tmp_path, data, message):
    path = tmp_path / "academy.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=None) as caught:
        load_config(path)
    assert message in str(caught.value)
