"""optimize: the text modality's optimize stage (:func:`genforge.text.stages.optimize.optimize`): pruning, int8
and LiteRT variants scored on the test files in bits per byte, one byte being one mu-law sample."""

from genforge.text.stages.optimize import optimize

__all__ = ["optimize"]
