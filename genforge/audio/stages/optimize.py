"""optimize: the text modality's optimize stage (:func:`genforge.text.stages.optimize.optimize`): pruning, int8
and LiteRT variants scored in bits per character on the test tunes."""

from genforge.text.stages.optimize import optimize

__all__ = ["optimize"]
