"""Prefect flows and deployments: the stages composed, on demand or on a schedule.

Flows (``pipelines.flows.FLOWS``): ``ingest``, ``nlp``, ``features``, ``train``, ``monitor``,
``report`` and ``daily``. Call :func:`pipelines.runtime.prefect_environment` at the entry point
before running one; nothing here touches the environment at import.
"""
