"""The waveform modality: raw audio (speech by default) as 8-bit mu-law samples, 256 classes as in WaveNet (van den
Oord et al. 2016), learned sample by sample by the text modality's sequence models (reached through
:mod:`genforge.text`'s public functions, a dependency declared in
:data:`genforge.waveform.modality.WaveformModality.uses` and in dvc.yaml), scored by bits per sample on held-out
files and by the Fréchet distance of log-mel frames against held-out audio, and written as WAV files."""
