"""The MLflow pyfunc flavour of a GenForge generator: ``mlflow.pyfunc.load_model(uri).predict(df, params=...)``."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd

from genforge.core import tracking
from genforge.text.sampling import DEFAULTS


def pip_requirements() -> list[str]:
    """The packages a served model needs, pinned to the versions installed here (genforge travels as code)."""
    return tracking.pinned(("keras", "tensorflow-cpu", "numpy", "pandas", "mlflow"))


class TextGenerator(mlflow.pyfunc.PythonModel):
    """Generates text from prompts with a model folder written by the train or optimize stage.

    Input: a DataFrame with a string column ``prompt`` (MLflow also turns ``{"prompt": "..."}`` into one).
    Params: ``max_new_tokens`` (int), ``temperature`` (float, 0 = greedy), ``top_k`` (int, 0 = off), ``top_p``
    (float), ``seed`` (int), ``stop`` (list of strings: each text ends before the first of them). Output: a DataFrame
    with a string column ``text``, the continuation of each prompt.
    """

    def load_context(self, context):
        from genforge.text.models import load_generator

        self.model, self.tokenizer = load_generator(context.artifacts["generator"])

    def predict(self, context, model_input: pd.DataFrame, params: dict | None = None) -> pd.DataFrame:
        """Generate one text per row of ``model_input["prompt"]``; row ``i`` uses the seed ``seed + i``, as
        :func:`genforge.text.sampling.generate_batch` does, so that two equal rows get two samples.

        Raises:
            MlflowException: (``INVALID_PARAMETER_VALUE``, HTTP 400 through ``mlflow models serve``, whose response
                carries this message and no stack trace) a missing ``prompt`` column, a prompt that is missing or
                not a string (named by row), or a prompt or param that generation refuses (its own message).
        """
        from genforge import GenForgeError
        from genforge.text.sampling import generate

        params = {**DEFAULTS, **(params or {})}
        prompts = checked_prompts(model_input)
        try:
            texts = [
                generate(self.model, self.tokenizer, p,
                         max_new_tokens=int(params["max_new_tokens"]),
                         temperature=float(params["temperature"]),
                         top_k=int(params["top_k"]),
                         top_p=float(params["top_p"]),
                         seed=int(params["seed"]) + i,
                         stop=[str(x) for x in params.get("stop", None) or ()])
                for i, p in enumerate(prompts)
            ]
        except GenForgeError as e:
            raise _invalid(str(e)) from None
        return pd.DataFrame({"text": texts})


def _invalid(message: str):
    from mlflow.exceptions import MlflowException
    from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def checked_prompts(model_input: pd.DataFrame) -> list[str]:
    """The ``prompt`` column as strings.

    Raises:
        MlflowException: (``INVALID_PARAMETER_VALUE``) no ``prompt`` column, or a row whose prompt is missing (None,
            NaN: a JSON ``null``) or not a string; the message names the rows.
    """
    if "prompt" not in model_input.columns:
        raise _invalid(f"the input has no 'prompt' column (columns: {', '.join(map(str, model_input.columns))})")
    prompts = model_input["prompt"].tolist()
    bad = [i for i, p in enumerate(prompts) if not isinstance(p, str)]
    if bad:
        shown = ", ".join(f"row {i} ({prompts[i]!r})" for i in bad[:5])
        raise _invalid(f"prompt must be a string in every row; missing or not a string: {shown}"
                       + (f" and {len(bad) - 5} more" if len(bad) > 5 else ""))
    return prompts


def signature():
    """The model signature: a string column ``prompt`` in, a string column ``text`` out, and the generation params
    of :data:`DEFAULTS` plus ``stop`` (a list of strings)."""
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

    types = {int: "long", float: "double"}
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        outputs=Schema([ColSpec("string", "text")]),
        params=ParamSchema([*(ParamSpec(k, types[type(v)], v) for k, v in DEFAULTS.items()),
                            ParamSpec("stop", "string", [], (-1,))]),
    )


def log_generator(run_id: str, model_dir: Path, registered_name: str, example_prompt: str = "\n") -> int:
    """Log the model folder ``model_dir`` as the pyfunc model ``model`` of the run (:class:`TextGenerator`, with
    :func:`signature` and an input example: ``example_prompt``, 20 tokens, seed 1) and register it as a new version
    of ``registered_name``; return the version number."""
    return tracking.log_model(run_id, python_model=Path(__file__).with_name("pyfunc_model.py"),
                              artifacts={"generator": str(model_dir)}, signature=signature(),
                              pip_requirements=pip_requirements(), registered_name=registered_name,
                              modality="text", input_example=(pd.DataFrame({"prompt": [example_prompt]}),
                                                              {"max_new_tokens": 20, "seed": 1}))
