"""Deployments for a Prefect server: ``daily`` at a fixed hour, ``monitor`` hourly, and every
other flow on demand.

Two ways to run them, both from settings (``settings.pipelines``):

- :func:`register` creates the ``process`` work pool if needed and registers the deployments;
  a worker (``prefect worker start --pool orderlens``) on a machine with orderlens installed then
  runs them. Deployments name their flow by module path (``pipelines.daily.daily_flow``), so no
  code is uploaded or pulled: the worker runs the version installed beside it.
- :func:`serve_deployments` registers them and runs them in this process (no pool, no worker):
  the simplest production set-up on one machine.
"""

from __future__ import annotations

import contextlib
from typing import Any
from uuid import UUID

from orderlens.settings import Settings


def deployments(
    settings: Settings, source: str | None = None, mapping: str | None = None
) -> list[Any]:
    """The deployments of every flow; ``daily`` and ``monitor`` carry their schedules.

    Args:
        settings: schedules and work pool.
        source, mapping: the export folder and mapping YAML the ``daily`` and ``ingest``
            deployments ingest (their default parameters; a run may override them). None: the
            flows fall back to ``settings.ingest`` on the worker.

    Returns:
        ``RunnerDeployment`` objects, ready for :func:`prefect.deploy` or :func:`prefect.serve`.
    """
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron

    from pipelines.flows import FLOWS

    config = settings.pipelines
    schedules = {
        "daily": Cron(config.daily_cron, timezone=config.timezone),
        "monitor": Cron(config.monitor_cron, timezone=config.timezone),
    }
    own_data = {k: v for k, v in {"source": source, "mapping": mapping}.items() if v}
    return [
        flow.to_deployment(
            name=name,
            schedules=[schedules[name]] if name in schedules else None,
            parameters=own_data if name in {"daily", "ingest"} else None,
            entrypoint_type=EntrypointType.MODULE_PATH,
            tags=["orderlens"],
            description=(flow.description or "").split("\n\n")[0],
        )
        for name, flow in FLOWS.items()
    ]


def ensure_work_pool(name: str) -> None:
    """Create the ``process`` work pool ``name`` unless it exists."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(
            WorkPoolCreate(
                name=name,
                type="process",
                base_job_template=ProcessWorker.get_default_base_job_template(),
            )
        )


def register(
    settings: Settings, source: str | None = None, mapping: str | None = None
) -> list[UUID]:
    """Register every deployment with the Prefect server of ``PREFECT_API_URL``.

    Returns:
        The deployment ids.

    Raises:
        RuntimeError: no Prefect server is configured (an ephemeral one would vanish with this
            process, taking the deployments with it).
    """
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RuntimeError(
            "no Prefect server configured: set production.prefect_api_url (profile "
            "production) or PREFECT_API_URL"
        )
    pool = settings.pipelines.work_pool
    ensure_work_pool(pool)
    # One `apply` per deployment rather than `prefect.deploy(...)`: in Prefect 3.8.8 the latter
    # first lists the pool's workers with limit=None, which the server rejects (422).
    return [
        deployment.apply(work_pool_name=pool)
        for deployment in deployments(settings, source, mapping)
    ]


def serve_deployments(
    settings: Settings, source: str | None = None, mapping: str | None = None
) -> None:
    """Register the deployments and run them from this process until interrupted."""
    import prefect

    prefect.serve(*deployments(settings, source, mapping))
