import numpy as np
import pytest

from genforge import GenForgeError
from genforge.text.tokenizers import UNK, ByteTokenizer, CharTokenizer, load_tokenizer, make_tokenizer


def test_byte_tokenizer_hand_values():
    tok = ByteTokenizer()
    assert tok.encode("Aé").tolist() == [65, 0xC3, 0xA9]
    assert tok.decode([65, 0xC3, 0xA9]) == "Aé"
    assert tok.decode([0xC3, 65]) == "\ufffdA"  # an invalid sequence inside the text is replaced
    # a sample cut inside its last character (家 is E5 AE B6) ends at the character before, not with U+FFFD
    assert tok.decode([65, 0xE5, 0xAE]) == "A" and tok.decode([0xE5, 0xAE, 0xB6]) == "家"
    assert tok.vocab_size == 256 and tok.storage_dtype == np.uint8 and tok.unit == "byte"


def test_char_tokenizer_hand_values():
    tok = CharTokenizer.fit("abca")
    assert tok.chars == "abc" and tok.vocab_size == 4
    assert tok.encode("cabz").tolist() == [3, 1, 2, 0]
    assert tok.decode([3, 1, 0]) == "ca" + UNK
    assert tok.encode("cabz").dtype == np.int32


def test_char_prompt_outside_vocabulary_is_a_clear_error():
    tok = CharTokenizer.fit("abc")
    with pytest.raises(GenForgeError, match=r"'z' \(U\+007A\)"):
        tok.encode_prompt("abz")


def test_save_load_round_trip(tmp_path):
    for tok in (CharTokenizer.fit("hello world\n"), ByteTokenizer()):
        tok.save(tmp_path / "t.json")
        back = load_tokenizer(tmp_path / "t.json")
        assert back.kind == tok.kind and back.vocab_size == tok.vocab_size
        assert back.encode("hello").tolist() == tok.encode("hello").tolist()


def test_bad_tokenizer_file(tmp_path):
    (tmp_path / "t.json").write_text('{"kind": "wordpiece"}')
    with pytest.raises(GenForgeError, match="not a GenForge tokenizer"):
        load_tokenizer(tmp_path / "t.json")
    with pytest.raises(GenForgeError, match="not found"):
        load_tokenizer(tmp_path / "missing.json")
    with pytest.raises(GenForgeError, match="unknown tokenizer"):
        make_tokenizer("bpe", "x")
