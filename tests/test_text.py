import pytest

from genforge import GenForgeError
from genforge.text.clean import clean, decode, markdown_play_to_text, normalize

PLAY = (
    "# Othello\n\n## ACT I\n\n_Enter RODERIGO and IAGO_\n\n"
    "**RODERIGO**  \nTush! never tell me;  \nI take it much unkindly.\n\n"
    "**IAGO**  \n_\\[Aside]_ 'Sblood, but you will not hear me.\n"
)


def test_markdown_play_keep_everything():
    assert markdown_play_to_text(PLAY) == (
        "Othello\n\nACT I\n\nEnter RODERIGO and IAGO\n\n"
        "RODERIGO:\nTush! never tell me;\nI take it much unkindly.\n\n"
        "IAGO:\n[Aside] 'Sblood, but you will not hear me.\n"
    )


def test_markdown_play_drop_headings_and_directions():
    assert markdown_play_to_text(PLAY, stage_directions="drop", headings="drop") == (
        "RODERIGO:\nTush! never tell me;\nI take it much unkindly.\n\n"
        "IAGO:\n 'Sblood, but you will not hear me.\n"
    )


def test_multiline_stage_direction_and_stray_markers():
    md = "_Enter, from one side, OBERON, with\nhis train_\n\n**PUCK**  \nI go, I go; look how I go,_\n"
    expected = "Enter, from one side, OBERON, with\nhis train\n\nPUCK:\nI go, I go; look how I go,\n"
    assert markdown_play_to_text(md) == expected


def test_normalize():
    assert normalize("\ufeffa\r\nb\rc\x07d\x00e\u0301\tf") == "a\nb\ncdé\tf"
    # a BOM inside the text (files concatenated) and the other invisible format characters go wherever they are;
    # the zero-width joiner, which changes what is drawn (an emoji sequence here), stays
    assert normalize("one\ufefftwo\u200bthree\u2060four\u00adfive") == "onetwothreefourfive"
    assert normalize("\U0001F469\u200d\U0001F4BB") == "\U0001F469\u200d\U0001F4BB"


def test_decode_error_names_file_and_offset():
    with pytest.raises(GenForgeError, match=r"plays/x\.md: byte 0xff at offset 3 is not valid utf-8"):
        decode(b"abc\xffdef", "utf-8", "plays/x.md")
    with pytest.raises(GenForgeError, match="unknown codec"):
        decode(b"abc", "no-such-codec", "x")
    assert decode("café".encode("latin-1"), "latin-1", "x") == "café"


def test_clean_plain_keeps_markup():
    raw = b"**A**  \r\nb\r\n"
    text = clean(raw, name="x", encoding="utf-8", fmt="plain", stage_directions="keep", headings="keep")
    assert text == "**A**  \nb\n"
