"""The model-from-code file MLflow logs for a waveform generator (see mlflow.models.set_model)."""

from mlflow.models import set_model

from genforge.waveform.pyfunc import WaveformClips

set_model(WaveformClips())
