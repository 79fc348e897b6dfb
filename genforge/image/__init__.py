"""The image modality: decoding and preprocessing of image datasets (work in progress: not registered yet)."""
