import pytest

from genforge.text.sample_metrics import (
    TrainingText,
    copied_span,
    distinct_n,
    longest_copied_span,
    novelty_chars,
    novelty_words,
    sample_metrics,
    self_bleu,
    word_ngram_set,
)

TRAIN = "to be or not to be that is the question\nwhether tis nobler in the mind to suffer\n"


def test_distinct_n_hand_computed():
    samples = ["a b a b", "a b c"]
    assert distinct_n(samples, 1) == pytest.approx(3 / 7)  # a b a b a b c: 3 distinct of 7
    assert distinct_n(samples, 2) == pytest.approx(3 / 5)  # ab ba ab | ab bc
    assert distinct_n(samples, 3) == pytest.approx(3 / 3)  # aba bab | abc
    assert distinct_n(["a"], 2) == 0.0


def test_distinct_n_of_a_script_without_spaces_does_not_depend_on_spaces():
    # a greedy loop in Chinese: 家 了 。 家 了 。 are 6 words (3 distinct); bigrams 家了 了。 。家 家了 了。 (3 of 5)
    for loop in ("家了。家了。", "家了。 家了。"):
        assert distinct_n([loop], 1) == pytest.approx(3 / 6)
        assert distinct_n([loop], 2) == pytest.approx(3 / 5)
    # Japanese kana and Thai are written without spaces too; English words keep their punctuation, as before
    assert distinct_n(["ねこねこ"], 1) == pytest.approx(2 / 4) and distinct_n(["กากา"], 1) == pytest.approx(2 / 4)
    assert distinct_n(["to be, to be"], 1) == pytest.approx(3 / 4)  # to | be, | to | be


def test_novelty_is_zero_for_copied_text_and_hand_computed_otherwise():
    copied = ["to be or not to be", "the question\nwhether tis"]
    for n in (2, 3, 4):
        assert novelty_words(copied, word_ngram_set(TRAIN, n), n) == 0.0
    assert novelty_chars(copied, TRAIN, 8) == 0.0
    # bigrams of "to be or dragons": (to be) (be or) seen, (or dragons) new
    assert novelty_words(["to be or dragons"], word_ngram_set(TRAIN, 2), 2) == pytest.approx(1 / 3)
    # 8-grams of "nobler inX": "nobler i", "obler in" seen; "bler inX" new
    assert novelty_chars(["nobler inX"], TRAIN, 8) == pytest.approx(1 / 3)


def test_longest_copied_span_of_known_length():
    assert longest_copied_span("XXXthat is the questionYYY", TRAIN) == len("that is the question")
    assert longest_copied_span("qqq", TRAIN) == len("q")
    assert longest_copied_span("ZZZ", TRAIN) == 0
    assert longest_copied_span("", TRAIN) == 0


def test_memorized_share():
    copied = "whether tis nobler in the mind to suffer"  # 40 characters from TRAIN
    train = TrainingText(TRAIN)
    m = sample_metrics([copied, "zzzz zzzz"], train, copy_threshold=40)
    assert m["longest_copied_span"] == 40 and m["memorized_share"] == 0.5
    assert sample_metrics([copied], train, copy_threshold=41)["memorized_share"] == 0.0


def test_self_bleu_hand_computed():
    # identical samples: every n-gram of each is in the other, BLEU 1
    assert self_bleu(["the king is dead", "the king is dead", "the king is dead"]) == pytest.approx(1.0)
    # "a b c d" against "a b c e": precisions 3/4, 2/3, 1/2 and 0/1, which smoothing method 1 makes 0.1/1;
    # equal lengths, brevity penalty 1; BLEU = (3/4 * 2/3 * 1/2 * 0.1) ** (1/4), the same both ways
    assert self_bleu(["a b c d", "a b c e"]) == pytest.approx(0.025 ** 0.25)
    with pytest.raises(ValueError, match="at least 2 samples"):
        self_bleu(["a b c d"])


def test_copied_span_position_and_length():
    train = "now is the winter of our discontent"
    assert copied_span("xx winter of ouryy", train) == (2, 14)  # " winter of our"
    assert copied_span("", train) == (0, 0)
    assert copied_span("qqq", train) == (0, 0)


def test_samples_copied_from_training_text_have_no_novelty():
    train = TrainingText("to be or not to be that is the question whether tis nobler in the mind")
    m = sample_metrics(["to be or not to be", "that is the question"], train, copy_threshold=10)
    assert m["novelty_word_2"] == m["novelty_word_3"] == m["novelty_word_4"] == m["novelty_char_8"] == 0.0
    assert m["longest_copied_span"] == 20 and m["memorized_share"] == 1.0
