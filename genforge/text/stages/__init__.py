"""The text modality's part of each stage: ``tasks.<verb>`` calls these through :mod:`genforge.text.modality`."""
