"""Prefect tasks: retries, retry conditions, artifacts and logging around library calls."""
