"""GenForge: a reproducible pipeline for training and evaluating generative models.

The library is importable without Prefect or MLflow side effects: nothing happens at import time.
"""

__version__ = "0.1.0"


class GenForgeError(Exception):
    """An error caused by input the user can fix (params, sources, corpus); its message says what to do."""
