"""Metrics of generated samples: diversity (distinct-n, self-BLEU), novelty against the training text, and
memorization (the longest span copied verbatim from the training text)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Scripts written without spaces between words, and the CJK and full-width punctuation blocks: each character of these
# is one word. Elsewhere a word is a run of characters between white space, as before.
_NO_SPACE = (r"\p{Han}\p{Hiragana}\p{Katakana}\p{Bopomofo}\p{Thai}\p{Lao}\p{Khmer}\p{Myanmar}\p{Tibetan}"
             r"\u3000-\u303f\uff00-\uffef")
_WORD = rf"[{_NO_SPACE}]|[^\s{_NO_SPACE}]+"


def words(text: str) -> list[str]:
    """The words of ``text`` for the diversity and novelty metrics, in any script: runs of characters between white
    space, except that each character of a script written without spaces (Han, kana, Bopomofo, Thai, Lao, Khmer,
    Myanmar, Tibetan) and each CJK or full-width punctuation mark is a word of its own. Finding the words of those
    scripts needs a dictionary (Unicode Standard Annex #29, *Unicode Text Segmentation*, sec. 4); single characters
    are what BLEU for Chinese scores (Post (2018), *A Call for Clarity in Reporting BLEU Scores*: sacreBLEU's ``zh``
    tokenizer), and they make a sample's score independent of the spaces it happens to hold.

    >>> words("to be, 家了。 家了")
    ['to', 'be,', '家', '了', '。', '家', '了']
    """
    import regex

    return regex.findall(_WORD, text)


def word_ngrams(text: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of ``text`` (:func:`words`)."""
    ws = words(text)
    return [tuple(ws[i:i + n]) for i in range(len(ws) - n + 1)]


def distinct_n(samples: Sequence[str], n: int) -> float:
    """distinct-n: distinct word n-grams over all word n-grams of all samples (Li et al., 2016, *A Diversity-Promoting
    Objective Function for Neural Conversation Models*, sec. 4.1). 0.0 when the samples hold no n-gram.

    >>> distinct_n(["a b a b", "a b c"], 2)  # 5 bigrams: ab ba ab | ab bc; 3 distinct
    0.6
    """
    grams = [g for s in samples for g in word_ngrams(s, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def self_bleu(samples: Sequence[str], max_n: int = 4) -> float:
    """Self-BLEU-``max_n``: the mean over samples of the BLEU of each sample against all the others as references
    (Zhu et al., 2018, *Texygen: A Benchmarking Platform for Text Generation Models*, sec. 3.3). 1.0 means every
    sample repeats the others; lower is more diverse.

    BLEU is NLTK's ``sentence_bleu`` with uniform weights over 1..``max_n``-grams and smoothing method 1 (Chen &
    Cherry, 2014), as in Texygen's own implementation; words are :func:`words`.

    Args:
        samples: at least 2 texts.
        max_n: highest n-gram order (4 for self-BLEU-4).

    Returns:
        float in ``[0, 1]``; 0.0 for a sample with no words.

    Raises:
        ValueError: fewer than 2 samples.
    """
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    if len(samples) < 2:
        raise ValueError(f"self-BLEU needs at least 2 samples (got {len(samples)})")
    tokens = [words(s) for s in samples]
    weights = (1.0 / max_n,) * max_n
    smooth = SmoothingFunction().method1
    scores = []
    for i, hyp in enumerate(tokens):
        refs = [t for j, t in enumerate(tokens) if j != i]
        scores.append(sentence_bleu(refs, hyp, weights=weights, smoothing_function=smooth) if hyp else 0.0)
    return float(sum(scores) / len(scores))


def novelty_words(samples: Sequence[str], train_ngrams: set[tuple[str, ...]], n: int) -> float:
    """Share of the samples' word n-grams that never occur in the training text (``train_ngrams``, built by
    :func:`word_ngram_set` with the same ``n``). 0.0 when the samples hold no n-gram."""
    grams = [g for s in samples for g in word_ngrams(s, n)]
    return sum(g not in train_ngrams for g in grams) / len(grams) if grams else 0.0


def word_ngram_set(text: str, n: int) -> set[tuple[str, ...]]:
    """Every word n-gram of ``text``, as a set (for :func:`novelty_words`)."""
    return set(word_ngrams(text, n))


def novelty_chars(samples: Iterable[str], train_text: str, n: int = 8) -> float:
    """Share of the samples' character n-grams (default 8) that occur nowhere in ``train_text``."""
    grams = [s[i:i + n] for s in samples for i in range(len(s) - n + 1)]
    return sum(g not in train_text for g in grams) / len(grams) if grams else 0.0


def copied_span(sample: str, train_text: str) -> tuple[int, int]:
    """``(start, length)`` of the longest substring of ``sample`` that occurs verbatim in ``train_text`` (the
    first one when several are as long; ``(0, 0)`` for an empty sample). Lengths and offsets are in characters.

    Matching statistics by substring search: the match starting at ``i + 1`` is at least the match at ``i`` minus
    one, so the search extends a running length and makes O(len(sample)) substring look-ups in all
    (Chang & Lawler, 1994, *Sublinear approximate string matching*, sec. 2, "matching statistics").

    >>> copied_span("xxthe kingyy", "long live the king!")
    (2, 8)
    """
    best = (0, 0)
    length = 0
    for i in range(len(sample)):
        length = max(length - 1, 0)
        while i + length < len(sample) and sample[i:i + length + 1] in train_text:
            length += 1
        if length > best[1]:
            best = (i, length)
    return best


def longest_copied_span(sample: str, train_text: str) -> int:
    """Length in characters of the longest substring of ``sample`` found verbatim in ``train_text``
    (:func:`copied_span`).

    >>> longest_copied_span("xxthe kingyy", "long live the king!")
    8
    """
    return copied_span(sample, train_text)[1]


@dataclass(frozen=True)
class TrainingText:
    """The training text with its word 2-, 3- and 4-gram sets, built once and shared by every
    :func:`sample_metrics` call against it."""

    text: str
    word_ngrams: dict[int, set[tuple[str, ...]]] = field(init=False)

    def __post_init__(self):
        object.__setattr__(self, "word_ngrams", {n: word_ngram_set(self.text, n) for n in (2, 3, 4)})


def sample_metrics(samples: Sequence[str], train: TrainingText, *, copy_threshold: int = 50) -> dict[str, float]:
    """Diversity, novelty and memorization of ``samples`` (generated text without the prompt) against the text
    the model was trained on (``train``).

    Returns:
        ``distinct_1..3``; ``self_bleu_4`` (with 2 or more samples); ``novelty_word_2..4`` and ``novelty_char_8``
        (shares, 0..1); ``longest_copied_span`` (characters, the maximum over samples); ``memorized_share`` (share
        of samples that copy a span of at least ``copy_threshold`` characters).
    """
    out: dict[str, float] = {f"distinct_{n}": distinct_n(samples, n) for n in (1, 2, 3)}
    if len(samples) >= 2:
        out["self_bleu_4"] = self_bleu(samples, 4)
    for n, grams in train.word_ngrams.items():
        out[f"novelty_word_{n}"] = novelty_words(samples, grams, n)
    out["novelty_char_8"] = novelty_chars(samples, train.text, 8)
    spans = [longest_copied_span(s, train.text) for s in samples]
    out["longest_copied_span"] = max(spans, default=0)
    out["memorized_share"] = sum(s >= copy_threshold for s in spans) / len(spans) if spans else 0.0
    return out
