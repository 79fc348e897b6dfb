"""Prefect flows: wiring only. Each task asks DVC to reproduce one stage, so DVC alone decides what is stale."""
