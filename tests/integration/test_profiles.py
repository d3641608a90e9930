"""Profiles inside a flow run: the local Dask workers get the running flow's Prefect API (a real
Prefect test server). The profiles themselves: tests/unit/test_profiles.py."""

from __future__ import annotations


def test_local_dask_workers_report_to_the_flows_api(prefect_harness):
    """Inside a flow run the LocalCluster's workers get the flow's API URL (the harness sets it in a
    settings context, which worker processes would not inherit); outside one there is nothing to pass."""
    from prefect import flow
    from prefect.client.orchestration import get_client

    from academy.execution import flow_api_env

    @flow
    def night() -> tuple[dict[str, str], str]:
        with get_client(sync_client=True) as client:
            return flow_api_env(), str(client.api_url).rstrip("/")

    assert flow_api_env() == {}
    env, api = night()
    assert env == {"PREFECT_API_URL": api} and api.startswith("http://127.0.0.1:")
