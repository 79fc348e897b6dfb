"""Text generation from a trained generator: incremental decoding (LSTM state, MLP context buffer, GPT key/value
cache) and temperature / top-k / top-p sampling, the whole decoding loop compiled into one TensorFlow graph."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from genforge import GenForgeError
from genforge.text.tokenizers import Tokenizer

# the generation settings a served model and `genforge generate` use when a request names none
DEFAULTS = {"max_new_tokens": 200, "temperature": 0.8, "top_k": 0, "top_p": 1.0, "seed": 0}


def next_token_distribution(logits: np.ndarray, temperature: float, top_k: int = 0, top_p: float = 1.0) -> np.ndarray:
    """The sampling distribution over the vocabulary for one position, in float64.

    Softmax of ``logits / temperature`` restricted to the ``top_k`` most likely tokens (0 = all) and then to the
    smallest set whose probability reaches ``top_p`` (nucleus sampling: Holtzman et al., 2020, *The Curious Case of
    Neural Text Degeneration*, sec. 3.1). ``temperature == 0`` gives a one-hot on the argmax (greedy).

    Args:
        logits: shape ``(V,)``, any float dtype.
        temperature: >= 0.
        top_k: >= 0.
        top_p: in ``(0, 1]``.

    Returns:
        float64 array of shape ``(V,)``, non-negative, summing to 1, never NaN (the maximum is subtracted before
        ``exp`` in float64, so a tiny positive temperature is safe).

    Raises:
        GenForgeError: an argument is out of range.
    """
    if not 0 <= temperature < float("inf"):
        raise GenForgeError(f"temperature must be a finite number >= 0 (got {temperature})")
    if top_k < 0:
        raise GenForgeError(f"top_k must be >= 0 (got {top_k})")
    if not 0 < top_p <= 1:  # also rejects NaN
        raise GenForgeError(f"top_p must be in (0, 1] (got {top_p})")
    z = np.asarray(logits, dtype=np.float64).reshape(-1)
    p = np.zeros_like(z)
    if temperature == 0:
        p[int(np.argmax(z))] = 1.0
        return p
    z = z / temperature
    if 0 < top_k < z.size:
        kth = np.partition(z, -top_k)[-top_k]
        z = np.where(z >= kth, z, -np.inf)
    e = np.exp(z - z.max())
    p = e / e.sum()
    if top_p < 1:
        order = np.argsort(-p, kind="stable")
        cum = np.cumsum(p[order])
        keep = order[: int(np.searchsorted(cum, top_p)) + 1]
        mask = np.zeros_like(p, dtype=bool)
        mask[keep] = True
        p = np.where(mask, p, 0.0)
        p /= p.sum()
    return p


def _tf():
    import tensorflow as tf

    return tf


class Stepper:
    """The incremental decoder of one architecture: ``initial_state(batch)`` and ``step_tensors(tokens, state)``
    (subclasses), compiled once as ``step`` for numpy callers."""

    def __init__(self):
        self._compiled = _tf().function(self.step_tensors, reduce_retracing=True)

    def step_tensors(self, tokens, state):
        """One decoding step on tensors: ``tokens int32 (B,)`` and the state to logits ``(B, V)`` and the new
        state. Not compiled, so that it traces into another graph (the decoding loops, the LiteRT export)."""
        raise NotImplementedError

    def initial_state(self, batch: int):
        """The state before the first token, for ``batch`` rows."""
        raise NotImplementedError

    def renew(self, state):
        """``state`` ready for one more :meth:`advance` at least (a GPT refills its full caches); here unchanged."""
        return state

    def room(self, state, limit):
        """How many :meth:`advance` steps every row can take from ``state`` (after :meth:`renew`) before it must be
        renewed, at most ``limit`` (an int32 scalar tensor); here no state ever needs renewing, so ``limit``."""
        return limit

    def advance(self, tokens, state):
        """:meth:`step_tensors` for a state that has room (see :meth:`room`): a decoding loop renews the state once per
        run of steps instead of checking it at every step."""
        return self.step_tensors(tokens, state)

    def step(self, tokens: np.ndarray, state):
        """Feed ``tokens`` (``int32 (B,)``); return logits ``float32 (B, V)`` as numpy and the new state."""
        logits, state = self._compiled(np.asarray(tokens, dtype=np.int32), state)
        return np.array(logits, dtype=np.float32), state


class LSTMStepper(Stepper):
    """Incremental decoding of an LSTM generator built by :func:`genforge.text.models.build_lstm`: one token at a time,
    carrying each layer's ``(h, c)`` state, with the same layers and weights as the full model.

    Args:
        model: the Keras model (layers named ``embedding``, ``lstm_<i>``, ``logits``).
    """

    def __init__(self, model):
        import keras

        self.embedding = model.get_layer("embedding")
        self.lstms = [layer for layer in model.layers if isinstance(layer, keras.layers.LSTM)]
        self.head = model.get_layer("logits")
        self._keras = keras
        super().__init__()

    def step_tensors(self, tokens, states):
        """``tokens int32 (B,)`` and ``[(h, c)]`` per layer, each ``float32 (B, units)``, to logits ``(B, V)`` and
        the new states. Under mixed precision the cell runs in its compute dtype, as in the full model; the states
        are carried as float32, which holds every float16 or bfloat16 value exactly."""
        ops = self._keras.ops
        x = self.embedding(tokens)  # (B, E)
        new_states = []
        for lstm, (h, c) in zip(self.lstms, states, strict=True):
            dtype = lstm.cell.compute_dtype
            x, (h, c) = lstm.cell(x, [ops.cast(h, dtype), ops.cast(c, dtype)])  # (B, units)
            new_states.append((ops.cast(h, "float32"), ops.cast(c, "float32")))
        return self.head(x), new_states  # (B, V)

    def initial_state(self, batch: int):
        """Zero ``(h, c)`` per layer, each ``float32 (batch, units)``."""
        return [(np.zeros((batch, layer.units), np.float32), np.zeros((batch, layer.units), np.float32))
                for layer in self.lstms]


class MLPStepper(Stepper):
    """Incremental decoding of an MLP generator (:func:`genforge.text.models.build_mlp`): the state is the buffer of the
    last ``context`` token embeddings, ``float32 (B, context, E)``, zeros at the start as in the full model."""

    def __init__(self, model):
        import keras

        self.embedding = model.get_layer("embedding")
        self.context = model.get_layer("context").context
        self.hidden = [layer for layer in model.layers if layer.name.startswith("hidden_")]
        self.head = model.get_layer("logits")
        self.width = self.embedding.output_dim
        self._keras = keras
        super().__init__()

    def step_tensors(self, tokens, buffer):
        """``tokens int32 (B,)`` and the buffer ``(B, context, E)`` to logits ``(B, V)`` and the new buffer."""
        ops = self._keras.ops
        buffer = ops.concatenate([buffer[:, 1:], self.embedding(tokens)[:, None]], axis=1)
        x = ops.reshape(buffer, (-1, self.context * self.width))
        for layer in self.hidden:
            x = layer(x)
        return self.head(x), buffer

    def initial_state(self, batch: int):
        """Zero embeddings, ``float32 (batch, context, E)``."""
        return np.zeros((batch, self.context, self.width), np.float32)


class GPTStepper(Stepper):
    """Incremental decoding of a GPT generator (:func:`genforge.text.models.build_gpt`) with a key/value cache.

    The state is ``(keys, values, positions, tokens)``: per block, keys and values ``(B, H, S, D)`` of the tokens
    read so far (``S`` = block size); each row's next position ``int32 (B,)``; and the token ids at each position
    ``int32 (B, S)``. A step computes one new position per row against the cache: ``O(S)`` work instead of
    re-running the whole window (``O(S^2)`` attention and ``S`` times the MLPs).

    Beyond the block size the learned positions run out. When a row's cache is full, its last ``S // 2 - 1`` tokens
    are re-encoded at positions ``0 ..`` (one window forward) and decoding goes on from there, so each new token sees
    between ``S // 2`` and ``S`` tokens of context; nanoGPT's ``generate`` instead re-runs the last ``S`` tokens for
    every new token. Within the first ``S`` positions both compute the same logits.
    """

    def __init__(self, model):
        import keras

        self.wte = model.get_layer("wte")
        self.wpe = model.get_layer("wpe")
        self.blocks = [layer for layer in model.layers if layer.name.startswith("block_")]
        self.ln_f = model.get_layer("ln_f")
        self.head = model.get_layer("logits")
        self.size = self.wpe.block_size
        self.keep = max(self.size // 2 - 1, 1)
        self._keras = keras
        super().__init__()

    def initial_state(self, batch: int):
        """Zero caches, positions and token history (see the class docstring for the shapes)."""
        b = self.blocks[0]
        shape = (batch, b.n_head, self.size, b.head_dim)
        zeros = [np.zeros(shape, np.float32) for _ in self.blocks]
        return (zeros, [z.copy() for z in zeros], np.zeros(batch, np.int32), np.zeros((batch, self.size), np.int32))

    def _refill(self, state):
        """Rows whose cache is full: re-encode their last ``keep`` tokens at positions ``0 .. keep - 1`` (a
        :meth:`prefill` of them); the other rows keep their state."""
        _, _, positions, history = state
        full = positions >= self.size  # (B,)
        recent = history[:, self.size - self.keep:]  # (B, keep)
        _, fresh = self.prefill(recent, self._keras.ops.full_like(positions, self.keep))
        return _where_rows(full, fresh, state)

    def prefill(self, prompt, lengths):
        """Read whole prompts in one forward pass (prefill) instead of token by token: the same logits and state as
        stepping through them, at the cost of one window. ``prompt int32 (B, P)`` with ``P <= S``, row ``b`` valid up
        to ``lengths[b] >= 1``; the cache slots past a row's length hold the padding's keys, which its next steps
        never attend to and overwrite. Returns the logits ``(B, V)`` after each row's last token and the state."""
        ops = self._keras.ops
        p = prompt.shape[1]
        x = ops.cast(self.wpe(self.wte(prompt)), self.blocks[0].compute_dtype)  # (B, P, E)
        pad = [[0, 0], [0, 0], [0, self.size - p], [0, 0]]
        keys, values = [], []
        for block in self.blocks:
            x, k, v = block.forward(x)  # (B, P, E); keys and values (B, H, P, D)
            keys.append(ops.pad(ops.cast(k, "float32"), pad))
            values.append(ops.pad(ops.cast(v, "float32"), pad))
        last = ops.take_along_axis(x, (lengths - 1)[:, None, None], axis=1)[:, 0]  # (B, E)
        history = ops.pad(prompt, [[0, 0], [0, self.size - p]])
        return self.head(self.ln_f(last)), (keys, values, lengths, history)

    def renew(self, state):
        """Refill the full caches (:meth:`_refill`) when a row has one; else ``state`` unchanged."""
        full = self._keras.ops.any(state[2] >= self.size)
        return _tf().cond(full, lambda: self._refill(state), lambda: state)

    def room(self, state, limit):
        """``min(limit, S - max(positions))``: the steps until the fullest row's cache is full."""
        return _tf().minimum(limit, self.size - _tf().reduce_max(state[2]))

    def step_tensors(self, tokens, state):
        """``tokens int32 (B,)`` and the state to logits ``(B, V)`` and the new state (refilled first where full)."""
        return self.advance(tokens, self.renew(state))

    def advance(self, tokens, state):
        """One step for a state whose rows all have a free cache slot (positions ``< S``)."""
        ops = self._keras.ops
        keys, values, positions, history = state
        x = self.wpe.add_at(self.wte(tokens), positions)  # (B, E)
        new_keys, new_values = [], []
        for block, k, v in zip(self.blocks, keys, values, strict=True):
            x, k, v = block.step(x, k, v, positions)
            new_keys.append(k)
            new_values.append(v)
        logits = self.head(self.ln_f(x))
        slot = ops.one_hot(positions, self.size, dtype="int32")
        history = history * (1 - slot) + tokens[:, None] * slot
        return logits, (new_keys, new_values, positions + 1, history)


def make_stepper(model):
    """The incremental decoder of ``model``: :class:`LSTMStepper`, :class:`MLPStepper` or :class:`GPTStepper`.

    Raises:
        GenForgeError: a model no GenForge builder made.
    """
    from genforge.text.models import arch_of

    return {"lstm": LSTMStepper, "mlp": MLPStepper, "gpt": GPTStepper}[arch_of(model)](model)


def sample_logits(logits, temperature, top_k, top_p, uniforms):
    """Draw one token per row from ``logits`` in the graph, by the Gumbel-max trick (Gumbel (1954); Maddison et al.
    (2014), *A\\* Sampling*): ``argmax(z + g)`` with ``g = -log(-log(u))`` draws from ``softmax(z)`` exactly, so no
    probability is ever renormalised.

    ``z = (logits - max(logits)) / temperature``, then every token outside the ``top_k`` largest (0 = all) and
    outside the nucleus (the most likely tokens whose probability mass before them is below ``top_p``; Holtzman et
    al. (2020), sec. 3.1) is set to ``-inf``. The most likely token is always kept, so a row always has a finite
    candidate; ``z <= 0`` after the shift, so a tiny temperature gives large negative numbers, never NaN.
    ``temperature == 0`` is the argmax (greedy).

    Args:
        logits: ``float32 (B, V)``; ``-inf`` marks tokens that must not be drawn.
        temperature, top_p: float scalars; top_k: int scalar.
        uniforms: ``float32 (B, V)`` in ``[0, 1)``, one row of noise per row.

    Returns:
        ``int32 (B,)`` token ids.
    """
    tf = _tf()
    logits = tf.cast(logits, tf.float32)
    greedy = tf.argmax(logits, axis=-1, output_type=tf.int32)
    z = (logits - tf.reduce_max(logits, axis=-1, keepdims=True)) / tf.maximum(temperature, 1e-30)
    vocab = tf.shape(z)[-1]
    truncate = (top_k > 0) & (top_k < vocab) | (top_p < 1.0)
    z = tf.cond(truncate, lambda: _truncate(z, top_k, top_p), lambda: z)  # the sorts only when asked for
    u = tf.clip_by_value(uniforms, 1e-12, 1.0 - 1e-7)
    drawn = tf.argmax(z - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)
    return tf.where(temperature > 0, drawn, greedy)


def _truncate(z, top_k, top_p):
    """``z (B, V)`` with every token outside the ``top_k`` largest and outside the nucleus set to ``-inf``."""
    tf = _tf()
    vocab = tf.shape(z)[-1]
    k = tf.where((top_k > 0) & (top_k < vocab), top_k, vocab)
    kth = tf.gather(tf.math.top_k(z, k=k).values, k - 1, axis=-1)[:, None]
    z = tf.where(z >= kth, z, -np.inf)
    order = tf.sort(z, axis=-1, direction="DESCENDING")
    p = tf.nn.softmax(order, axis=-1)
    before = tf.cumsum(p, axis=-1, exclusive=True)
    kept = tf.where((before < top_p) | (top_p >= 1.0), order, np.inf)
    return tf.where(z >= tf.reduce_min(kept, axis=-1, keepdims=True), z, -np.inf)


def row_noise(seeds, step, vocab):
    """``float32 (B, vocab)`` uniforms in ``[0, 1)``: row ``b`` is ``tf.random.stateless_uniform([vocab],
    seed=(seeds[b], step))``, so a row's draws depend on its own seed only, whatever else is in the batch."""
    tf = _tf()
    return tf.vectorized_map(lambda s: tf.random.stateless_uniform([vocab], tf.stack([s, step])), seeds)


def _where_rows(rows, new, old):
    """Each tensor of the structure ``new`` where ``rows`` (bool ``(B,)``) is true, else the same tensor of ``old``."""
    tf = _tf()
    return tf.nest.map_structure(
        lambda n, o: tf.where(tf.reshape(rows, [-1] + [1] * (len(n.shape) - 1)), n, o), new, old)


def _decoder(model):
    """The compiled decoding loops of ``model`` (made once per model object and kept on it)."""
    cached = getattr(model, "_genforge_decoder", None)
    if cached is not None:
        return cached
    tf = _tf()
    stepper = make_stepper(model)

    @tf.function(jit_compile=True)
    def read(prompt, lengths, state):
        """Feed the prompts (``int32 (B, P)``, row ``i`` valid up to ``lengths[i]``); rows whose prompt has ended
        keep their logits and state, so no row ever reads padding. A GPT reads prompts that fit its block in one
        forward pass (:meth:`GPTStepper.prefill`). XLA-compiled once per prompt shape."""
        if isinstance(stepper, GPTStepper) and prompt.shape[1] <= stepper.size:
            logits, state = stepper.prefill(prompt, lengths)
            return tf.cast(logits, tf.float32), state
        logits = tf.zeros([tf.shape(prompt)[0], model.output_shape[-1]], tf.float32)
        for t in tf.range(tf.shape(prompt)[1]):
            new_logits, new_state = stepper.step_tensors(prompt[:, t], state)
            live = t < lengths
            logits = tf.where(live[:, None], tf.cast(new_logits, tf.float32), logits)
            state = _where_rows(live, new_state, state)
        return logits, state

    @tf.function(jit_compile=True)
    def decode(logits, state, n, start, seeds, banned, temperature, top_k, top_p):
        """``n`` (a Python int: XLA needs the loop's length; callers always pass their ``chunk``, so one compilation
        serves every ``max_new_tokens``) new tokens per row from the given logits and state;
        token ``start + i`` of row ``b`` uses the noise ``stateless_uniform(seed=(seeds[b], start + i))``, independent
        of the other rows. Compiled with XLA: one fused loop (about 4x faster than the plain graph for the LSTM on a
        CPU, 7x for the GPT)."""
        out = tf.TensorArray(tf.int32, size=n)
        vocab = tf.shape(logits)[-1]
        i = tf.constant(0)
        while i < n:  # runs of steps between two renewals of the state (a GPT's cache refills): no check per step
            state = stepper.renew(state)
            end = i + stepper.room(state, n - i)
            while i < end:  # a while, not a tf.range: XLA needs a range's length at compile time
                noise = row_noise(seeds, start + tf.cast(i, tf.int64), vocab)
                token = sample_logits(tf.where(banned[None, :], -np.inf, logits), temperature, top_k, top_p, noise)
                out = out.write(i, token)
                logits, state = stepper.advance(token, state)
                logits = tf.cast(logits, tf.float32)
                i += 1
        return tf.transpose(out.stack()), logits, state

    model._genforge_decoder = (stepper, read, decode)
    return model._genforge_decoder


def _check(prompts, max_new_tokens, temperature, top_k, top_p) -> None:
    if not prompts:
        raise GenForgeError("prompts must not be empty")
    if not all(prompts):
        raise GenForgeError("prompt must not be empty")
    if max_new_tokens < 0:
        raise GenForgeError(f"max_new_tokens must be >= 0 (got {max_new_tokens})")
    next_token_distribution(np.zeros(1), temperature, top_k, top_p)  # validates the sampling arguments


def _cut(text: str, stop: Sequence[str]) -> tuple[str, bool]:
    hits = [text.index(s) for s in stop if s in text]
    return (text[:min(hits)], True) if hits else (text, False)


def generate(model, tokenizer: Tokenizer, prompt: str, *, max_new_tokens: int, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, seed: int = 0, stop: Sequence[str] = ()) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` sampled tokens; the same ``seed`` gives the same text.

    The one-prompt case of :func:`generate_batch` (same arguments, same errors).

    Returns:
        The new text only (the prompt is not repeated).
    """
    return generate_batch(model, tokenizer, [prompt], max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p, seed=seed, stop=stop)[0]


def generate_batch(model, tokenizer: Tokenizer, prompts: list[str], *, max_new_tokens: int,
                   temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: int = 0,
                   stop: Sequence[str] = (), chunk: int = 64, step_seconds: list[float] | None = None) -> list[str]:
    """Continue every prompt by up to ``max_new_tokens`` sampled tokens, all rows decoded together as one batch.

    Decoding is incremental (:func:`make_stepper`: no window is re-run) and runs ``chunk`` tokens per call of one
    ``tf.function`` loop, sampling in the graph (:func:`sample_logits`). Row ``i`` draws its noise from seed
    ``seed + i`` alone, so row ``i`` of a batch equals :func:`generate` of the same prompt with seed ``seed + i``.
    The tokenizer's ``never_generate`` ids (a char model's <unk>) are never drawn.

    Args:
        stop: stop sequences: a row's text ends before the first occurrence of any of them; decoding ends early once
            every row has one.
        chunk: tokens decoded per compiled call (between two checks for stop sequences). Every call decodes a whole
            chunk, so a model and batch size compile the loop once whatever ``max_new_tokens`` is; the surplus of the
            last call is dropped (the tokens kept do not depend on ``chunk``).
        step_seconds: if given, one entry per generated token is appended: the wall time of its chunk divided by the
            chunk's tokens, in seconds (the time of one step for every row).

    Returns:
        The new text of each prompt (the prompt is not repeated), in order.

    Raises:
        GenForgeError: no prompts, an empty prompt or one with characters outside a char vocabulary, an empty stop
            sequence, or an argument out of range.
    """
    _check(prompts, max_new_tokens, temperature, top_k, top_p)
    if any(not s for s in stop):
        raise GenForgeError("a stop sequence must not be empty")
    if chunk < 1:
        raise GenForgeError(f"chunk must be >= 1 (got {chunk})")
    tf = _tf()
    ids = [tokenizer.encode_prompt(p) for p in prompts]
    stepper, read, decode = _decoder(model)
    # prompts are padded to a power of two (at least 16) so that prompts of many lengths share a few compilations
    padded = np.zeros((len(ids), max(16, 1 << (max(len(x) for x in ids) - 1).bit_length())), np.int32)
    for row, x in zip(padded, ids, strict=True):
        row[:len(x)] = x
    logits, state = read(tf.constant(padded), tf.constant([len(x) for x in ids], tf.int32),
                         stepper.initial_state(len(ids)))
    banned = np.zeros(int(logits.shape[-1]), bool)
    banned[list(tokenizer.never_generate)] = True
    seeds = tf.constant([seed + i for i in range(len(ids))], tf.int64)
    out = np.zeros((len(ids), 0), np.int32)
    while out.shape[1] < max_new_tokens:
        take = min(chunk, max_new_tokens - out.shape[1])  # the last call decodes a whole chunk and keeps ``take``
        start = time.perf_counter()
        tokens, logits, state = decode(logits, state, chunk, tf.constant(out.shape[1], tf.int64), seeds,
                                       tf.constant(banned), tf.constant(temperature, tf.float32),
                                       tf.constant(top_k, tf.int32), tf.constant(top_p, tf.float32))
        out = np.concatenate([out, tokens.numpy()[:, :take]], axis=1)
        if step_seconds is not None:
            step_seconds.extend([(time.perf_counter() - start) / chunk] * take)
        if stop and all(_cut(tokenizer.decode(row), stop)[1] for row in out):
            break
    return [_cut(tokenizer.decode(row[:max_new_tokens]), stop)[0] for row in out]


def generate_full_window(model, tokenizer: Tokenizer, prompts: list[str], *, max_new_tokens: int,
                         window: int, temperature: float = 1.0, seed: int = 0) -> list[str]:
    """The baseline incremental decoding is measured against: every new token re-runs the full model on the last
    ``window`` tokens (all of them while fewer), as nanoGPT's ``generate`` does with ``block_size``. The loop is one
    ``tf.function`` with :func:`generate_batch`'s sampler, so greedy outputs agree with it while the whole context
    fits the window. When every step sees exactly ``window`` tokens (prompts at least that long) the loop is
    compiled with XLA, as :func:`generate_batch`'s is; with a growing context the shapes change and it is not. The
    loop is kept on the model, so a second call of the same shapes is not traced or compiled again.

    Args:
        prompts: all of the same length in tokens.
        window: at most the model's block size for a GPT.

    Returns:
        The new text of each prompt.

    Raises:
        GenForgeError: prompts of different token lengths, or the arguments :func:`generate_batch` refuses.
    """
    _check(prompts, max_new_tokens, temperature, 0, 1.0)
    tf = _tf()
    encoded = [tokenizer.encode_prompt(p) for p in prompts]
    if len({len(x) for x in encoded}) != 1:
        raise GenForgeError("generate_full_window needs prompts of one length in tokens")
    ids = np.stack(encoded)
    fixed = ids.shape[1] >= window
    banned = np.zeros(model.output_shape[-1], bool)
    banned[list(tokenizer.never_generate)] = True
    seeds = tf.constant([seed + i for i in range(len(prompts))], tf.int64)
    loops = model.__dict__.setdefault("_genforge_full_window", {})  # compiled once per (window, tokens, fixed)
    if (window, max_new_tokens, fixed) not in loops:

        @tf.function(jit_compile=fixed)
        def run(context, seeds, banned, temperature):
            out = tf.TensorArray(tf.int32, size=max_new_tokens)
            for i in tf.range(max_new_tokens):
                tf.autograph.experimental.set_loop_options(
                    shape_invariants=[(context, tf.TensorShape([None, window if fixed else None]))])
                logits = tf.cast(model(context, training=False)[:, -1], tf.float32)
                noise = row_noise(seeds, tf.cast(i, tf.int64), tf.shape(banned)[0])
                token = sample_logits(tf.where(banned[None, :], -np.inf, logits), temperature, tf.constant(0),
                                      tf.constant(1.0), noise)
                out = out.write(i, token)
                context = tf.concat([context, token[:, None]], axis=1)[:, -window:]
            return tf.transpose(out.stack())

        loops[(window, max_new_tokens, fixed)] = run
    tokens = loops[(window, max_new_tokens, fixed)](tf.constant(ids[:, -window:], tf.int32), seeds,
                                                     tf.constant(banned), tf.constant(temperature, tf.float32))
    return [tokenizer.decode(row) for row in tokens.numpy()]
