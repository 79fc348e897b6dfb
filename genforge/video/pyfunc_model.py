"""The model-from-code file MLflow logs for a GenForge video generator (see mlflow.models.set_model).

MLflow executes this file when it loads the model; import :mod:`genforge.video.pyfunc` for the class itself.
"""

from mlflow.models import set_model

from genforge.video.pyfunc import VideoGenerator

set_model(VideoGenerator())
