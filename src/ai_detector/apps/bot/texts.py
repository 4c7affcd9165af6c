"""Everything the bot says to users, in one place (Telegram HTML parse mode).

Anything that comes from outside (labels, service messages, file names) goes
through :func:`html.escape`, so a label like ``<b>`` cannot break the markup.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

from ai_detector.apps.bot.client import ImageRejected
from ai_detector.inference.prediction import Prediction

HELP_BUTTON = "❓ Help"
HELP_CALLBACK = "help"
WHY_BUTTON = "🔍 Why?"
WHY_CALLBACK = "why"
WHY_IMAGE_GONE = (
    "I can no longer find the image this verdict was about (it may have been deleted). "
    "Send it again and tap “Why?” under the new answer."
)
CANNOT_EXPLAIN = "⚠️ The detector running now cannot show where it saw the evidence."
# Below this the verdict is close to a coin toss between labels; say so.
LOW_CONFIDENCE = 0.6

ACCEPTS = (
    "Send me a <b>photo</b>, or an <b>image as a file</b> (JPEG, PNG, WebP, HEIC, AVIF…), "
    "and I will tell you whether it is a real photo, AI-generated or a deepfake."
)

START = (
    "👋 Hi! I check whether a picture is a <b>real photo</b>, <b>AI-generated</b> "
    "or a <b>deepfake</b>.\n\n"
    "Send me a photo — or, for the most accurate answer, send the image as a file "
    "(📎 → File) so Telegram does not recompress it. Albums work too: I answer every image."
)

HELP = (
    "<b>What I do</b>\n"
    "I run each image through an AI-image detector and answer with a label, how "
    "confident the model is, and what the label means.\n\n"
    "<b>Labels</b>\n"
    "✅ <b>Real</b> — a genuine camera photo.\n"
    "🤖 <b>AI-generated</b> — the whole picture was made by an image generator.\n"
    "🎭 <b>Deepfake</b> — a real photo whose face was swapped or altered by AI.\n\n"
    "<b>What to send</b>\n"
    "• a photo, or an image as a file (JPEG, PNG, WebP, HEIC, AVIF…) up to {max_size};\n"
    "• files keep their original quality, which makes the check more reliable;\n"
    "• an album: I answer each image separately.\n\n"
    "The answer is a statistical estimate, not proof. Commands: /start, /help."
)

_EXPLANATIONS = {
    "real": ("✅", "It looks like a genuine photo taken with a camera, not made or edited by AI."),
    "aigenerated": ("🤖", "It looks like the whole image was created by an AI image generator."),
    "deepfake": ("🎭", "It looks like a real photo in which a face was swapped or altered by AI."),
}
_UNKNOWN_LABEL = ("🔍", "This is the model's verdict; I have no description for this label yet.")

_KIND_NAMES = {
    "text": "text",
    "sticker": "stickers",
    "video": "videos",
    "video_note": "video messages",
    "voice": "voice messages",
    "audio": "audio",
    "animation": "GIFs and animations",
    "document": "this kind of file",
    "location": "locations",
    "venue": "locations",
    "contact": "contacts",
    "poll": "polls",
    "dice": "dice",
    "story": "stories",
    "paid_media": "paid media",
}

UNKNOWN_COMMAND = "I don't know that command. " + ACCEPTS + " See /help for details."
TEXT_ONLY = "I only look at images, not text. " + ACCEPTS

SERVICE_UNAVAILABLE = (
    "⚠️ The detection service is unavailable right now, so I could not check this image. "
    "Please try again in a few minutes."
)
BAD_SERVICE_RESPONSE = (
    "⚠️ The detection service gave an answer I could not understand. Please try again later."
)
DOWNLOAD_FAILED = "⚠️ I could not download this file from Telegram. Please send it again."
UNEXPECTED_ERROR = "⚠️ Sorry, something went wrong on my side. Please try again later."

_REJECTIONS = {
    "not_an_image": "I could not read this file as an image. Please send a JPEG, PNG, WebP "
    "or HEIC picture.",
    "corrupt_image": "This image seems damaged or incomplete. Could you send it again?",
    "image_too_small": "This image is too small for a reliable check. "
    "Please send a larger version.",
    "image_too_large": "This image is too large for the detector. Please send a smaller version.",
    "empty_input": "This file is empty, there is nothing to check.",
}


def _normalise(label: str) -> str:
    return re.sub(r"[^a-z0-9]", "", label.lower())


def explain(label: str) -> tuple[str, str]:
    """(emoji, one-line meaning) for a label; unknown labels get a generic line."""
    return _EXPLANATIONS.get(_normalise(label), _UNKNOWN_LABEL)


def format_percent(fraction: float) -> str:
    """0.873 -> '87%'; never rounds a not-quite-certain answer up to '100%'."""
    percent = fraction * 100
    if 99 < percent < 100:
        return f"{math.floor(percent * 10) / 10:.1f}%"
    return f"{round(percent)}%"


def format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def prediction(result: Prediction) -> str:
    emoji, meaning = explain(result.label)
    text = (
        f"{emoji} <b>{html.escape(result.label)}</b> — {format_percent(result.confidence)} "
        f"confidence\n{meaning}"
    )
    if result.confidence < LOW_CONFIDENCE:
        text += "\n<i>The model is not very sure about this one.</i>"
    stated = provenance(result.provenance)
    return f"{text}\n\n{stated}" if stated else text


_CLAIMS = {
    "ai-generated": "it states it was AI-generated",
    "ai-edited": "it states it was edited with AI",
    "camera": "it states it was captured by a camera",
}


def provenance(found: dict[str, Any] | None) -> str:
    """One sentence on what the file states about its origin; empty when it states nothing."""
    if not found or found.get("source") in (None, "none"):
        return ""
    claim = _CLAIMS.get(str(found.get("claims")), "it makes no statement about AI")
    generator = html.escape(str(found.get("generator") or "an unnamed tool"))
    if found.get("source") == "c2pa":
        signer = html.escape(str((found.get("details") or {}).get("signer") or "an unknown signer"))
        if found.get("valid") is False:
            return (
                f"📜 This file carries Content Credentials from {generator}, but they do not "
                f"match the file (changed after signing, or damaged): {claim}, unverified."
            )
        return (
            f"📜 This file carries Content Credentials from {generator}, "
            f"signed by {signer}: {claim}."
        )
    if found.get("source") == "iptc":
        return f"📝 Its metadata (IPTC, unsigned) names {generator}: {claim}."
    return f"📝 It holds the settings of an image generator ({generator}), unsigned: {claim}."


def why_caption(label: str, target: str, against: str) -> str:
    """Caption of the heatmap overlay sent for the "Why?" button."""
    return (
        f"Verdict: <b>{html.escape(label)}</b>. Warm colours mark where the model found the "
        f"strongest evidence for {html.escape(target)} rather than {html.escape(against)}; "
        "uncoloured parts weighed little (and the model only looks at the centre square)."
    )


def help_text(max_size: int) -> str:
    return HELP.format(max_size=format_size(max_size))


def too_large(size: int, limit: int) -> str:
    return (
        f"📦 This file is {format_size(size)}, which is more than I can check "
        f"(up to {format_size(limit)}). Please send a smaller or compressed version."
    )


def rejected(error: ImageRejected) -> str:
    reason = _REJECTIONS.get(error.code)
    if reason is None:
        reason = f"The detector could not check this image: {html.escape(error.message)}"
    return "🚫 " + reason


def unsupported(kind: str, mime_type: str | None = None) -> str:
    """Friendly reply to a message the bot cannot check, naming what it got."""
    if kind == "text":
        return TEXT_ONLY
    what = _KIND_NAMES.get(kind, "this kind of message")
    if kind == "document" and mime_type:
        what = f"this kind of file ({html.escape(mime_type)})"
    return f"Sorry, I can't check {what}. " + ACCEPTS
