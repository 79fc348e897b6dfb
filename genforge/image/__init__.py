"""The image modality (work in progress: not registered in genforge.core.modality yet): decoding (idx, folder),
datasets (data), generators (models: VAE and DCGAN; diffusion), the domain feature network (features) and the
sample-quality metrics (metrics)."""
