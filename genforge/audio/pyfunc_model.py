"""The model-from-code file MLflow logs for a tune generator (see mlflow.models.set_model)."""

from mlflow.models import set_model

from genforge.audio.pyfunc import TuneGenerator

set_model(TuneGenerator())
