"""Efficiency of a text generator: generation speed and per-token latency (the shared figures are in
:mod:`genforge.core.efficiency`)."""

from __future__ import annotations

import time

import numpy as np

from genforge.core.efficiency import percentile
from genforge.text.sampling import generate_batch
from genforge.text.tokenizers import Tokenizer


def generation_speed(model, tokenizer: Tokenizer, prompt: str, *, batch: int, tokens: int,
                     temperature: float = 1.0, seed: int = 0) -> dict[str, float]:
    """Throughput and per-token latency of :func:`genforge.text.sampling.generate_batch` with ``batch`` copies of
    ``prompt``, after one short warm-up call that compiles the same decoding loop (``generate_batch`` decodes whole
    chunks whatever the token count), so tracing and compilation are not counted.

    Args:
        batch: rows decoded together, ``>= 1``.
        tokens: new tokens per row, ``>= 2``.

    Returns:
        ``chars_per_second``: generated characters of all rows over the wall time of the whole call (prompt reading
        included); ``latency_ms_p50`` and ``latency_ms_p95``: percentiles of the time of one generation step (one new
        token for every row), in milliseconds.
    """
    generate_batch(model, tokenizer, [prompt] * batch, max_new_tokens=2, temperature=temperature, seed=seed)
    steps: list[float] = []
    start = time.perf_counter()
    texts = generate_batch(model, tokenizer, [prompt] * batch, max_new_tokens=tokens, temperature=temperature,
                           seed=seed, step_seconds=steps)
    seconds = time.perf_counter() - start
    return {
        "chars_per_second": sum(len(t) for t in texts) / seconds,
        "latency_ms_p50": 1000 * percentile(steps, 50),
        "latency_ms_p95": 1000 * percentile(steps, 95),
    }


def step_latency(stepper, *, tokens: int, first_token: int = 0) -> dict[str, float]:
    """Per-token latency of batch-1 greedy decoding with ``stepper`` (a :class:`genforge.text.sampling.Stepper` or
    :class:`genforge.text.litert.LiteRTStepper`): the model step alone, without sampling, after 10 warm-up steps.

    Args:
        tokens: timed steps, ``>= 2``; each feeds back the argmax of the previous step.
        first_token: the id fed first.

    Returns:
        ``latency_ms_p50`` and ``latency_ms_p95`` of one step, in milliseconds.
    """
    state = stepper.initial_state(1)
    token = np.array([first_token], np.int32)
    times = []
    for i in range(tokens + 10):
        start = time.perf_counter()
        logits, state = stepper.step(token, state)
        if i >= 10:
            times.append(time.perf_counter() - start)
        token = np.asarray(logits).argmax(-1).astype(np.int32)
    return {"latency_ms_p50": 1000 * percentile(times, 50), "latency_ms_p95": 1000 * percentile(times, 95)}
