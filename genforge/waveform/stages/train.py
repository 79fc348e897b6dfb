"""train: the text modality's train stage (:func:`genforge.text.stages.train.train`) on the mu-law codes: the same
model families, checkpoints and MLflow run."""

from genforge.text.stages.train import train

__all__ = ["train"]
