"""The text modality: cleaning, tokenizers, token windows, the MLP, LSTM and GPT generators, sampling, and the
language-model and sample metrics, built on :mod:`genforge.core`."""
