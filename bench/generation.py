"""Generation speed: characters per second at batch 1 and batch 32, incremental decoding against re-running the full
window for every new token.

    python bench/generation.py [--profiles cpu cpu-gpt cpu-mlp] [--tokens 256] [--rounds 3]

Each profile's model is built untrained (speed does not depend on the weights' values). The prompt is the first
``seq_len`` characters of the val split, so the full-window baseline (``genforge.text.sampling.generate_full_window``,
nanoGPT's ``generate``: the last ``seq_len`` tokens re-run for each new token) sees a full window at every step and
is XLA-compiled like the incremental loop (``genforge.text.sampling.generate_batch``:
LSTM state, MLP context buffer, GPT
key/value cache). Both sample at temperature 0.8. After a warm-up call of each, the two are timed alternately,
``--rounds`` times, so that both see the same drift in this machine's speed; each figure is the best of its calls.
Characters/s counts the new characters of all rows over the wall time of the call, prompt reading included.
"""

from __future__ import annotations

import argparse
import time
from functools import partial

import keras
from common import profile_train, shakespeare

from genforge.text.sampling import generate_batch, generate_full_window
from genforge.text.tokenizers import CharTokenizer
from genforge.text.training import build_generator


def best_rates(fns, chars: int, rounds: int) -> list[float]:
    """Characters/s of each of ``fns``: one warm-up call each, then ``rounds`` rounds calling them in turn; the best
    call of each."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, spent in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            spent.append(time.perf_counter() - start)
    return [chars / min(spent) for spent in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", nargs="+", default=["cpu", "cpu-gpt", "cpu-mlp"])
    parser.add_argument("--tokens", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    _, val, chars = shakespeare()
    tokenizer = CharTokenizer("".join(chars))  # ids shift by one for <unk>; the speed is the same
    print("profile | batch | incremental chars/s | full-window chars/s | speed-up")
    for name in args.profiles:
        cfg = profile_train(name)
        keras.utils.set_random_seed(0)
        model = build_generator(cfg, tokenizer.vocab_size)
        prompt = "".join(chars[i] for i in val[:cfg.seq_len])
        for batch in (1, 32):
            n = args.tokens * batch
            prompts = [prompt] * batch
            fast, slow = best_rates([
                partial(generate_batch, model, tokenizer, prompts, max_new_tokens=args.tokens, temperature=0.8,
                        chunk=args.tokens),
                partial(generate_full_window, model, tokenizer, prompts, max_new_tokens=args.tokens,
                        window=cfg.seq_len, temperature=0.8)], n, args.rounds)
            print(f"{name:7} | {batch:5} | {fast:19.0f} | {slow:19.0f} | {fast / slow:7.1f}x", flush=True)


if __name__ == "__main__":
    main()
