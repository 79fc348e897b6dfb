"""What every modality shares: the config base and params reader, atomic files, sources, MLflow tracking, the gate,
the trainer and its checkpoints, pruning, stability and efficiency figures. Nothing here imports a modality
package (``genforge.text``, ...): tests/test_layering.py checks it."""
