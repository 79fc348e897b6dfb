"""Splits and training windows: documents to train/val/test, token arrays to tf.data batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genforge import GenForgeError


def split_documents(names: list[str], val_fraction: float, test_fraction: float, seed: int) -> dict[str, list[str]]:
    """Assign whole documents to ``train``, ``val`` and ``test``, deterministically from ``seed``.

    The sorted names are shuffled by ``numpy.random.default_rng(seed)``; the first ``max(1, round(n * test_fraction))``
    go to test, the next ``max(1, round(n * val_fraction))`` to val, the rest to train. No document is in two splits.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}``, each list sorted.

    Raises:
        GenForgeError: fewer than 3 documents, or the fractions leave no training document.
    """
    n = len(names)
    if n < 3:
        raise GenForgeError(f"the corpus has {n} document(s); splitting by document needs at least 3 "
                            "(one each for train, val and test): add documents to collect.sources")
    order = np.random.default_rng(seed).permutation(n)
    shuffled = [sorted(names)[i] for i in order]
    n_test = max(1, round(n * test_fraction))
    n_val = max(1, round(n * val_fraction))
    if n - n_test - n_val < 1:
        raise GenForgeError(f"preprocess.val_fraction and test_fraction leave no training document out of {n}")
    return {
        "test": sorted(shuffled[:n_test]),
        "val": sorted(shuffled[n_test:n_test + n_val]),
        "train": sorted(shuffled[n_test + n_val:]),
    }


def load_tokens(path: str | Path) -> np.ndarray:
    """A split's token ids as written by the preprocess stage, as a 1-D ``int32`` array.

    Raises:
        GenForgeError: the file is missing or is not a 1-D integer ``.npy`` array.
    """
    try:
        tokens = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GenForgeError(f"{path}: not found; run the preprocess stage (`dvc repro`)") from None
    except (ValueError, OSError, EOFError) as e:
        raise GenForgeError(f"{path}: not a token array ({e}); re-run the preprocess stage") from None
    if tokens.ndim != 1 or tokens.dtype.kind not in "ui":
        raise GenForgeError(f"{path}: expected a 1-D integer array, found {tokens.dtype} {tokens.shape}; "
                            "re-run the preprocess stage")
    return tokens.astype(np.int32)


def check_length(tokens: np.ndarray, seq_len: int, split: str) -> None:
    """Raise GenForgeError unless ``tokens`` holds at least one window of ``seq_len`` inputs plus its target."""
    if len(tokens) < seq_len + 1:
        raise GenForgeError(
            f"the {split} split has {len(tokens)} tokens; one training window needs {seq_len + 1} "
            f"(train.seq_len + 1): lower train.seq_len or add text"
        )


def steps_per_epoch(n_tokens: int, seq_len: int, batch_size: int, requested: int) -> int:
    """Batches per epoch: ``requested`` if positive, else one pass:
    ``max(1, (n_tokens - 1) // (seq_len * batch_size))``."""
    return requested if requested > 0 else max(1, (n_tokens - 1) // (seq_len * batch_size))


def training_dataset(tokens: np.ndarray, *, seq_len: int, batch_size: int, steps: int, epochs: int,
                     seed: int, random_offsets: bool, start_step: int = 0):
    """A ``tf.data.Dataset`` of ``epochs * steps`` batches ``(x, y)``, from global batch ``start_step`` on.

    ``x`` and ``y`` are ``int32`` of shape ``(batch_size, seq_len)``; ``y`` is ``x`` shifted one token on in the
    stream.

    With ``random_offsets`` each epoch draws fresh window starts uniformly from ``[0, len(tokens) - seq_len - 1]``
    (``tf.random.stateless_uniform`` keyed by ``(seed, epoch)``); otherwise the windows are the fixed chop at
    multiples of ``seq_len``, in an order reshuffled each epoch.

    Batch ``i`` depends only on ``(tokens, seed, i)``, so a run resumed at step ``start_step`` sees exactly the
    batches an uninterrupted run sees from there. Under a ``tf.distribute`` strategy the dataset is sharded by
    element (``AutoShardPolicy.DATA``): the replicas together see each global batch once.
    """
    import tensorflow as tf

    check_length(tokens, seq_len, "train")
    stream = tf.constant(np.asarray(tokens, dtype=np.int32))
    n_starts = len(tokens) - seq_len  # valid starts: 0 .. len - seq_len - 1
    fixed = tf.range(0, n_starts, seq_len, dtype=tf.int64)
    per_epoch = steps * batch_size
    offsets = tf.range(seq_len + 1, dtype=tf.int64)

    def epoch_starts(epoch):
        key = tf.stack([tf.cast(seed, tf.int64), epoch])
        if random_offsets:
            return tf.random.stateless_uniform([per_epoch], key, minval=0, maxval=n_starts, dtype=tf.int64)
        reps = -(-per_epoch // int(fixed.shape[0]))
        idx = tf.argsort(tf.random.stateless_uniform([reps * int(fixed.shape[0])], key))
        return tf.gather(tf.tile(fixed, [reps]), idx[:per_epoch])

    def window(starts):
        w = tf.gather(stream, starts[:, None] + offsets[None, :])
        return w[:, :-1], w[:, 1:]

    first_epoch, into = divmod(start_step, steps)
    ds = tf.data.Dataset.range(first_epoch, epochs).flat_map(
        lambda e: tf.data.Dataset.from_tensor_slices(epoch_starts(e)))
    ds = ds.skip(into * batch_size).batch(batch_size, drop_remainder=True).map(window)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def chop(tokens: np.ndarray, seq_len: int, max_windows: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping windows for scoring: ``x[i] = tokens[i*seq_len : (i+1)*seq_len]`` and ``y`` shifted by one.

    Returns:
        ``(x, y)``, ``int32`` arrays of shape ``(n, seq_len)`` with ``n = (len(tokens) - 1) // seq_len`` (at most
        ``max_windows`` if positive). The tail shorter than a window is left out.
    """
    check_length(tokens, seq_len, "scored")
    n = (len(tokens) - 1) // seq_len
    if max_windows > 0:
        n = min(n, max_windows)
    t = np.asarray(tokens[: n * seq_len + 1], dtype=np.int32)
    return t[:-1].reshape(n, seq_len), t[1:].reshape(n, seq_len)


def load_splits(gen) -> tuple[int, np.ndarray, np.ndarray]:
    """``(vocab_size, train_tokens, val_tokens)`` of generator ``gen``'s preprocessed folder.

    Raises:
        GenForgeError: a file of the preprocess stage is missing (run ``dvc repro preprocess@<name>``).
    """
    from genforge.text.tokenizers import load_tokenizer

    processed = Path(gen.paths.processed)
    for name in ("train.npy", "val.npy", "tokenizer.json"):
        if not (processed / name).exists():
            raise GenForgeError(f"{processed / name} is missing: run `dvc repro preprocess@{gen.name}` first")
    tokenizer = load_tokenizer(processed / "tokenizer.json")
    return tokenizer.vocab_size, load_tokens(processed / "train.npy"), load_tokens(processed / "val.npy")
