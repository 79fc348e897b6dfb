"""The audio modality on the seam of :mod:`genforge.core.modality`: its generator model and its part of each
stage."""

from __future__ import annotations

from genforge.audio.config import AudioGenerator
from genforge.core.modality import StagePackage


class AudioModality(StagePackage):
    """Folk tunes in ABC notation: the text modality's sequence models over ABC characters, music21 to read the
    samples, symusic to render them to MIDI and WAV with a General MIDI soundfont; bits per character, parse share,
    pitch-class, interval and note-length histograms beside a unigram baseline and the training tunes."""

    name = "audio"
    config = AudioGenerator
    uses = ("text",)  # modality packages this one imports (declared in dvc.yaml, carried by a registered model)

    def fit_trial(self, job, train, seed: int, on_epoch) -> list[float]:
        from genforge.text.training import fit_trial

        return fit_trial(job, train, seed, on_epoch)

    def check_search_inputs(self, job) -> None:
        from genforge.text.data import load_splits

        load_splits(job)

    def log_model(self, job, run_id: str, registered_name: str) -> int:
        from genforge.audio.pyfunc import log_tune_generator

        return log_tune_generator(job, run_id, registered_name)


MODALITY = AudioModality()
