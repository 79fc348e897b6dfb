"""The waveform modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each
stage."""

from __future__ import annotations

from genforge.core.modality import StagePackage
from genforge.waveform.config import WaveformGenerator


class WaveformModality(StagePackage):
    """Raw audio as 8-bit mu-law codes: the text modality's sequence models over 256 classes, sampled one audio
    sample at a time; bits per sample on held-out files, the Fréchet distance of log-mel frames beside a unigram
    baseline and the training audio, the real-time factor; clips written as WAV."""

    name = "waveform"
    config = WaveformGenerator
    uses = ("text",)  # modality packages this one imports (declared in dvc.yaml, carried by a registered model)

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.text.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.text.data import load_splits

        load_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.waveform.pyfunc import log_waveform_generator

        return log_waveform_generator(job, run_id, registered_name)


MODALITY = WaveformModality()
