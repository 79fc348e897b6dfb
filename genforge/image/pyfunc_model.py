"""The model-from-code file MLflow logs for a GenForge image generator (see mlflow.models.set_model).

MLflow executes this file when it loads the model; import :mod:`genforge.image.pyfunc` for the class itself.
"""

from mlflow.models import set_model

from genforge.image.pyfunc import ImageGenerator

set_model(ImageGenerator())
