"""Checks before a pipeline run: the tracking and orchestration servers it is configured to use answer.

A server that does not answer gives a clear error within seconds instead of a hang or a failure after training.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request

from genforge import GenForgeError


def check_http(url: str, what: str, fix: str, timeout_s: float = 5.0) -> None:
    """GET ``url``; raise GenForgeError naming ``what`` and ``fix`` unless it answers 2xx within ``timeout_s``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - http(s) URLs only
            if 200 <= response.status < 300:
                return
            problem = f"HTTP {response.status}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        problem = str(getattr(e, "reason", e))
    raise GenForgeError(f"{what} at {url} does not answer ({problem}); {fix}")


def check_mlflow() -> None:
    """When ``MLFLOW_TRACKING_URI`` is an http(s) server, its ``/health`` endpoint must answer."""
    uri = os.environ.get("MLFLOW_TRACKING_URI", "")
    if uri.startswith(("http://", "https://")):
        check_http(uri.rstrip("/") + "/health", "the MLflow tracking server (MLFLOW_TRACKING_URI)",
                   "start it (`make mlflow-server`) or unset MLFLOW_TRACKING_URI to use ./mlflow.db")


def check_prefect() -> None:
    """When a Prefect API URL is configured (``PREFECT_API_URL`` or the active profile), its ``/health`` endpoint
    must answer. Without one, flows use a temporary local server and there is nothing to check."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if url:
        check_http(url.rstrip("/") + "/health", "the Prefect API (PREFECT_API_URL)",
                   "start it (`make prefect-server`) or unset PREFECT_API_URL to use a temporary local server")
