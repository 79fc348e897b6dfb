"""The model-from-code file MLflow logs for a GenForge image-to-image generator (see mlflow.models.set_model).

MLflow executes this file when it loads the model; import :mod:`genforge.image2image.pyfunc` for the class itself.
"""

from mlflow.models import set_model

from genforge.image2image.pyfunc import Translator

set_model(Translator())
