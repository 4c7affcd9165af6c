"""What the bot says: verdict wording, percentages, explanations, error messages."""

from __future__ import annotations

import pytest

from ai_detector.apps.bot import texts
from ai_detector.apps.bot.client import ImageRejected, Prediction


def verdict(label: str, confidence: float) -> str:
    return texts.prediction(Prediction(label, confidence, {}, "v1"))


@pytest.mark.parametrize(
    ("fraction", "shown"),
    [
        (0.0, "0%"),
        (0.5, "50%"),
        (0.874, "87%"),
        (0.9849, "98%"),
        (0.9949, "99.4%"),
        (0.9996, "99.9%"),
        (1.0, "100%"),
    ],
)
def test_percentages_never_round_up_to_certainty(fraction: float, shown: str) -> None:
    assert texts.format_percent(fraction) == shown


def test_known_labels_get_their_own_explanation() -> None:
    meanings = {texts.explain(label)[1] for label in ("Real", "AI-generated", "Deepfake")}
    assert len(meanings) == 3
    # The label set comes from the model, so spelling variants must still match.
    assert texts.explain("ai_generated") == texts.explain("AI-generated")
    assert texts.explain("DEEPFAKE") == texts.explain("Deepfake")


def test_verdict_has_label_percentage_and_explanation() -> None:
    text = verdict("AI-generated", 0.93)
    assert text.startswith("🤖 <b>AI-generated</b> — 93% confidence\n")
    assert texts.explain("AI-generated")[1] in text
    assert "not very sure" not in text


def test_unknown_label_is_escaped_and_explained_generically() -> None:
    text = verdict("<Morph>", 0.4)
    assert "<b>&lt;Morph&gt;</b>" in text
    assert texts.explain("<Morph>")[1] in text
    assert "not very sure" in text


def test_rejections_are_worded_by_error_type_with_a_fallback() -> None:
    assert "too small" in texts.rejected(ImageRejected(422, "image_too_small", "8x8"))
    fallback = texts.rejected(ImageRejected(400, "weird_thing", "bad <input>"))
    assert "bad &lt;input&gt;" in fallback


def test_unsupported_messages_name_what_arrived() -> None:
    assert "stickers" in texts.unsupported("sticker")
    assert "application/zip" in texts.unsupported("document", "application/zip")
    assert "this kind of message" in texts.unsupported("giveaway")
    assert all(texts.ACCEPTS in texts.unsupported(kind) for kind in ("text", "voice", "poll"))


def test_sizes_are_readable() -> None:
    assert texts.format_size(25 * 1024 * 1024) == "25.0 MB"
    assert texts.format_size(10_485) == "10 KB"
    assert texts.too_large(25 * 1024 * 1024, 20 * 1024 * 1024).count("MB") == 2


def stated(**provenance: object) -> str:
    return texts.prediction(Prediction("Real", 0.9, {}, "v1", provenance=provenance))


def test_content_credentials_sentence_names_generator_signer_and_claim() -> None:
    text = stated(
        source="c2pa",
        claims="ai-generated",
        generator="Image <Maker>",
        valid=True,
        details={"signer": "Example Corp"},
    )
    assert text.startswith("✅ <b>Real</b> — 90% confidence")  # the model's verdict stays
    assert text.endswith(
        "📜 This file carries Content Credentials from Image &lt;Maker&gt;, "
        "signed by Example Corp: it states it was AI-generated."
    )
    broken = stated(source="c2pa", claims="ai-generated", generator="X", valid=False, details={})
    assert "do not match the file" in broken and "unverified" in broken


def test_unsigned_statements_say_they_are_unsigned_and_none_says_nothing() -> None:
    iptc = stated(source="iptc", claims="ai-edited", generator="Painter", valid=None)
    assert (
        "📝 Its metadata (IPTC, unsigned) names Painter: it states it was edited with AI." in iptc
    )
    settings = stated(source="generator-metadata", claims="ai-generated", generator="ComfyUI")
    assert "settings of an image generator (ComfyUI), unsigned" in settings
    assert stated(source="none", details={"camera": "Canon"}) == verdict("Real", 0.9)
