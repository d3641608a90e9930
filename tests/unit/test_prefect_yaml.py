"""prefect.yaml stays in step with flows/nightly.py and academy.yaml (no Prefect server needed).

`make up` runs `prefect deploy --all` on this file; these checks catch what would otherwise only
show up there or at 2 am: an entrypoint that names no flow, a flow without a deployment, a schedule
that drifted from ``evolution.schedule``, a deployment on another work pool.
"""

from __future__ import annotations

import pytest
import yaml

from academy.config import load_config
from tests.factories import REPO

POOL = "academy-process"
NIGHTLY = "nightly_evolution"


@pytest.fixture(scope="module")
def project() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text())


@pytest.fixture(scope="module")
def deployments(project) -> list[dict]:
    return project["deployments"]


@pytest.fixture(scope="module")
def flows() -> dict:
    """Every Prefect flow object defined in flows/nightly.py that can be deployed, by flow name."""
    from prefect import Flow

    import flows.nightly as module

    return {
        obj.name: obj
        for obj in vars(module).values()
        if isinstance(obj, Flow)
        and obj.fn.__module__ == module.__name__
        and obj.name not in module.INTERNAL_FLOWS
    }


def _flow_of(deployment: dict):
    """What the deployment's entrypoint names (None if nothing)."""
    path, _, attr = deployment["entrypoint"].partition(":")
    assert path == "flows/nightly.py", deployment["entrypoint"]
    assert (REPO / path).is_file()
    import flows.nightly as module

    return getattr(module, attr, None)


def test_prefect_accepts_the_file(project):
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(project)
    assert len(model.deployments) == len(project["deployments"])
    names = [d["name"] for d in project["deployments"]]
    assert len(names) == len(set(names)), "deployment names must be unique"


def test_every_entrypoint_is_a_flow_of_that_name(deployments):
    from prefect import Flow

    for deployment in deployments:
        flow = _flow_of(deployment)
        assert isinstance(flow, Flow), f"{deployment['entrypoint']} is not a Prefect flow"
        # `prefect deployment run 'FLOW/DEPLOYMENT'`: the flow's name is the function's name.
        assert flow.name == deployment["entrypoint"].rsplit(":", 1)[1]
        assert deployment["name"] == flow.name.replace("_", "-")


def test_every_flow_has_a_deployment(deployments, flows):
    deployed = {d["entrypoint"].rsplit(":", 1)[1] for d in deployments}
    assert deployed == set(flows), f"missing: {set(flows) - deployed}, unknown: {deployed - set(flows)}"


def test_parameters_exist_on_the_flow(deployments):
    for deployment in deployments:
        flow = _flow_of(deployment)
        params = deployment.get("parameters") or {}
        assert params.get("config_path") == "academy.yaml", deployment["name"]
        unknown = set(params) - set(flow.parameters.properties)
        assert not unknown, f"{deployment['name']}: {unknown} are not parameters of {flow.name}"


def test_nightly_schedule_is_the_config_schedule(deployments):
    from prefect.client.schemas.schedules import CronSchedule

    schedule = load_config(REPO / "academy.yaml").evolution.schedule
    (nightly,) = [d for d in deployments if d["entrypoint"].endswith(f":{NIGHTLY}")]
    (entry,) = nightly["schedules"]
    assert entry["cron"] == schedule.cron
    assert entry["timezone"] == schedule.timezone
    assert entry.get("active", True) is True
    CronSchedule(cron=entry["cron"], timezone=entry["timezone"])  # Prefect parses it


def test_only_the_nightly_flow_is_scheduled(deployments):
    for deployment in deployments:
        if not deployment["entrypoint"].endswith(f":{NIGHTLY}"):
            assert not deployment.get("schedules"), deployment["name"]


def test_every_deployment_uses_the_process_pool(deployments):
    for deployment in deployments:
        assert deployment["work_pool"]["name"] == POOL, deployment["name"]


def test_flow_runs_start_in_the_repo_root(project):
    """The pull step names ACADEMY_REPO, and the stack script sets it to the repo root."""
    ((step, inputs),) = project["pull"][0].items()
    assert step == "prefect.deployments.steps.set_working_directory"
    assert inputs["directory"] == "{{ $ACADEMY_REPO }}"
    assert 'export ACADEMY_REPO="$ROOT"' in (REPO / "scripts" / "stack.sh").read_text()


# The variables of the Kubernetes worker's default base job template (prefect-kubernetes): a job
# variable outside it is silently ignored by the worker, so a typo would never reach the pod.
KUBERNETES_JOB_VARIABLES = {
    "name", "namespace", "image", "image_pull_policy", "service_account_name", "finished_job_ttl",
    "job_watch_timeout_seconds", "pod_watch_timeout_seconds", "stream_output", "cluster_config",
    "env", "labels", "command", "backoff_limit",
}  # fmt: skip


def test_kubernetes_pool_job_variables_are_template_variables(project):
    """The documented Kubernetes pool (docs/operations.md "Scaling out") names only variables the worker fills."""
    pool = project["definitions"]["kubernetes_pool"]
    assert pool["name"] != POOL
    variables = pool["job_variables"]
    assert set(variables) <= KUBERNETES_JOB_VARIABLES, set(variables) - KUBERNETES_JOB_VARIABLES
    assert variables["env"]["ACADEMY_REPO"] and variables["env"]["HF_HUB_OFFLINE"] == "1"
