"""Splitting long messages for Discord's 2,000-character limit: on paragraph, line, then sentence boundaries."""

from __future__ import annotations

from ersen_ops.notifications.channels import split_message


def test_a_short_message_is_one_part_without_a_marker():
    assert split_message("Hello.", 2000) == ["Hello."]


def test_paragraphs_are_kept_whole_when_they_fit():
    paragraphs = [f"Paragraph {i}. " + "x" * 900 for i in range(3)]
    parts = split_message("\n\n".join(paragraphs), 2000)
    assert parts == [f"{paragraphs[0]}\n\n{paragraphs[1]}\n(1/2)", f"{paragraphs[2]}\n(2/2)"]


def test_a_long_paragraph_is_split_between_sentences_never_inside_one():
    sentences = [f"Sentence number {i} says something useful about the window." for i in range(100)]
    parts = split_message(" ".join(sentences), 2000)
    assert len(parts) == 4
    assert all(len(p) <= 2000 for p in parts)
    texts = [p.rsplit("\n", 1)[0] for p in parts]
    assert all(t.endswith("window.") for t in texts)
    assert " ".join(texts) == " ".join(sentences)


def test_lines_are_preferred_over_sentences():
    lines = [f"- host-{i:03d}: kernel patched, rebooted, healthy" for i in range(80)]
    parts = split_message("\n".join(lines), 2000)
    assert all(len(p) <= 2000 for p in parts)
    rejoined = "\n".join(p.rsplit("\n", 1)[0] for p in parts)
    assert rejoined == "\n".join(lines)


def test_a_single_enormous_word_is_cut_and_the_parts_are_numbered():
    parts = split_message("a" * 4500, 2000)
    assert [p.rsplit("\n", 1)[1] for p in parts] == ["(1/3)", "(2/3)", "(3/3)"]
    assert "".join(p.rsplit("\n", 1)[0] for p in parts) == "a" * 4500
    assert all(len(p) <= 2000 for p in parts)
