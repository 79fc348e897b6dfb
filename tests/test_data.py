import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.data import check_length, chop, split_documents, steps_per_epoch, training_dataset


def test_split_is_deterministic_disjoint_and_complete():
    names = [f"doc{i}" for i in range(10)]
    a = split_documents(names, 0.2, 0.1, seed=7)
    assert a == split_documents(list(reversed(names)), 0.2, 0.1, seed=7)
    assert [len(a["train"]), len(a["val"]), len(a["test"])] == [7, 2, 1]
    assert sorted(a["train"] + a["val"] + a["test"]) == sorted(names)
    assert a != split_documents(names, 0.2, 0.1, seed=8)


def test_split_needs_three_documents():
    with pytest.raises(GenForgeError, match="has 2 document"):
        split_documents(["a", "b"], 0.1, 0.1, 0)
    assert {k: len(v) for k, v in split_documents(["a", "b", "c"], 0.1, 0.1, 0).items()} == {
        "test": 1, "val": 1, "train": 1}


def test_too_short_split_says_how_many_tokens():
    with pytest.raises(GenForgeError, match=r"train split has 10 tokens; one training window needs 33"):
        check_length(np.arange(10), 32, "train")


def test_chop_hand_example():
    x, y = chop(np.arange(10), 3)
    assert x.tolist() == [[0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert y.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert chop(np.arange(10), 3, max_windows=1)[0].tolist() == [[0, 1, 2]]


def test_steps_per_epoch():
    assert steps_per_epoch(1001, 10, 4, 0) == 25
    assert steps_per_epoch(1001, 10, 4, 7) == 7


@pytest.mark.parametrize("random_offsets", [True, False])
def test_training_windows(random_offsets):
    tokens = np.arange(200, dtype=np.int32)
    ds = training_dataset(tokens, seq_len=8, batch_size=4, steps=3, epochs=2, seed=1, random_offsets=random_offsets)
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    assert len(batches) == 6
    for x, y in batches:
        assert x.shape == y.shape == (4, 8) and x.dtype == np.int32
        assert (y == x + 1).all()  # targets are the next tokens of the stream
        assert (x[:, 1:] == x[:, :-1] + 1).all() and x.min() >= 0 and y.max() <= 199
    starts = [set(x[:, 0].tolist()) for x, _ in batches]
    if not random_offsets:
        assert all(s % 8 == 0 for batch in starts for s in batch)  # the fixed chop
    epoch1 = set().union(*starts[:3])
    epoch2 = set().union(*starts[3:])
    assert epoch1 != epoch2  # a new draw (or order) each epoch
    again = [x.numpy() for x, _ in training_dataset(tokens, seq_len=8, batch_size=4, steps=3, epochs=2, seed=1,
                                                   random_offsets=random_offsets)]
    assert all((a == b[0]).all() for a, b in zip(again, batches, strict=True))


def test_load_tokens_errors(tmp_path):
    from genforge.text.data import load_tokens

    with pytest.raises(GenForgeError, match="not found; run the preprocess stage"):
        load_tokens(tmp_path / "train.npy")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(GenForgeError, match="not a token array"):
        load_tokens(tmp_path / "junk.npy")
    np.save(tmp_path / "f.npy", np.zeros((2, 2), np.float32))
    with pytest.raises(GenForgeError, match="expected a 1-D integer array"):
        load_tokens(tmp_path / "f.npy")
    np.save(tmp_path / "ok.npy", np.array([1, 2], np.uint16))
    assert load_tokens(tmp_path / "ok.npy").dtype == np.int32
