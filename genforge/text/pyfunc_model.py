"""The model-from-code file MLflow logs for a GenForge generator (see mlflow.models.set_model).

MLflow executes this file when it loads the model; import :mod:`genforge.text.pyfunc` for the class itself.
"""

from mlflow.models import set_model

from genforge.text.pyfunc import TextGenerator

set_model(TextGenerator())
