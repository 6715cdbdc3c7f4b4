"""Prefect flows: parameters, order, fan-out and the evaluation trigger. No logic lives here."""
