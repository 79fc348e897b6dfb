"""The MLflow pyfunc flavour of a GenForge generator: ``mlflow.pyfunc.load_model(uri).predict(df, params=...)``."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import mlflow.pyfunc
import pandas as pd


def pip_requirements() -> list[str]:
    """The packages a served model needs, pinned to the versions installed here (genforge travels as code)."""
    reqs = []
    for name in ("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow"):
        try:
            reqs.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            continue
    return reqs


class TextGenerator(mlflow.pyfunc.PythonModel):
    """Generates text from prompts with a model folder written by the train or optimize stage.

    Input: a DataFrame with a string column ``prompt`` (MLflow also turns ``{"prompt": "..."}`` into one).
    Params: ``max_new_tokens`` (int), ``temperature`` (float, 0 = greedy), ``top_k`` (int, 0 = off), ``top_p``
    (float), ``seed`` (int), ``stop`` (list of strings: each text ends before the first of them). Output: a DataFrame
    with a string column ``text``, the continuation of each prompt.
    """

    def load_context(self, context):
        from genforge.models import load_generator

        self.model, self.tokenizer = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        from genforge.sampling import generate

        params = params or {}
        prompts = model_input["prompt"].tolist()
        texts = [
            generate(self.model, self.tokenizer, str(p),
                     max_new_tokens=int(params.get("max_new_tokens", 200)),
                     temperature=float(params.get("temperature", 0.8)),
                     top_k=int(params.get("top_k", 0)),
                     top_p=float(params.get("top_p", 1.0)),
                     seed=int(params.get("seed", 0)),
                     stop=[str(x) for x in params.get("stop", None) or ()])
            for p in prompts
        ]
        return pd.DataFrame({"text": texts})
