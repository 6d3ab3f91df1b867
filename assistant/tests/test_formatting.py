"""LLM markdown becomes WhatsApp text, and long replies are split at paragraphs."""

import pytest

from assistant.formatting import MAX_MESSAGE_CHARS, split_message, to_whatsapp


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("This is **important**.", "This is *important*."),
        ("This is __important__ too.", "This is *important* too."),
        ("An *aside* here.", "An _aside_ here."),
        ("~~old~~ new", "~old~ new"),
        ("# Plan\nText", "*Plan*\nText"),
        ("### Step **one**", "*Step one*"),
        ("- milk\n- eggs\n* bread", "• milk\n• eggs\n• bread"),
        ("See [the docs](https://example.com/x).", "See the docs (https://example.com/x)."),
        ("Run `ls -la` now", "Run ```ls -la``` now"),
        ("```python\nx = **y**\n```", "```x = **y**```"),
        ("a\n\n\n\nb", "a\n\nb"),
        ("2 * 3 * 4 = 24", "2 * 3 * 4 = 24"),
        ("snake_case_name stays", "snake_case_name stays"),
    ],
)
def test_markdown_becomes_whatsapp_formatting(markdown, whatsapp):
    assert to_whatsapp(markdown) == whatsapp


def test_short_text_is_one_message():
    assert split_message("hello") == ["hello"]
    assert split_message("  ") == []


def test_long_text_is_split_at_paragraphs_within_the_limit():
    paragraphs = [f"Paragraph {n}: " + "word " * 150 for n in range(12)]
    text = "\n\n".join(paragraphs)
    assert len(text) > MAX_MESSAGE_CHARS

    pieces = split_message(text)

    assert len(pieces) > 1
    assert all(len(piece) <= MAX_MESSAGE_CHARS for piece in pieces)
    assert all(piece.startswith("Paragraph ") for piece in pieces)
    assert " ".join(" ".join(pieces).split()) == " ".join(text.split())


def test_text_without_breaks_is_cut_hard():
    pieces = split_message("x" * 9000, limit=4000)
    assert [len(piece) for piece in pieces] == [4000, 4000, 1000]
