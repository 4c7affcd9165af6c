"""The bot's "Why?" button, end to end: real aiogram, fake Telegram, real TorchServe.

The verdict carries the button; tapping it makes the bot download the image again, ask
TorchServe's /explanations and send the overlay as a photo threaded to the verdict.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from PIL import Image

from ai_detector.apps.bot import texts
from tests.integration.fake_telegram import BOT_USER, USER, FakeTelegram
from tests.integration.test_bot import TOKEN, polling, run, settings_for

if TYPE_CHECKING:
    from ai_detector.serving.torchserve import Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def tap_why(fake: FakeTelegram, verdict: Any, photo_message: dict | None) -> dict:
    """The user taps "Why?" under ``verdict``: Telegram sends its message back, with
    the image it replied to (absent when that image was deleted)."""
    message = fake.message(text=verdict.text, reply_markup=verdict.params["reply_markup"])
    message["from"] = BOT_USER
    if photo_message is not None:
        message["reply_to_message"] = photo_message
    fake.push(
        callback_query={
            "id": f"cb{len(fake.updates)}",
            "from": USER,
            "chat_instance": "42",
            "message": message,
            "data": texts.WHY_CALLBACK,
        }
    )
    return message


def uploaded(call: Any, field: str) -> bytes:
    """The bytes of an upload: aiogram sends ``attach://NAME`` and the file as NAME."""
    reference = call.params[field]
    if isinstance(reference, str) and reference.startswith("attach://"):
        return bytes(call.params[reference.removeprefix("attach://")])
    return bytes(reference)


def test_why_answers_with_the_overlay(
    cam_server: tuple[Server, str], make_image: Callable[..., bytes]
) -> None:
    server, _ = cam_server

    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake:
            settings = settings_for(fake, server.inference_url)
            async with polling(settings):
                photo = fake.push_message(photo=fake.photo(make_image(tint="red")))
                (verdict,) = await fake.wait_for("sendMessage", 1)
                (button,) = verdict.params["reply_markup"]["inline_keyboard"][0]
                assert button == {"text": texts.WHY_BUTTON, "callback_data": "why"}
                tapped = tap_why(fake, verdict, photo)
                (sent,) = await fake.wait_for("sendPhoto", 1, timeout=30)
                tap_why(fake, verdict, None)
                await fake.wait_for("sendMessage", 2)
                await asyncio.sleep(0.2)
            overlay = Image.open(io.BytesIO(uploaded(sent, "photo")))
            assert overlay.format == "PNG" and overlay.size == (320, 240)
            assert "<b>AI-generated</b>" in sent.params["caption"]
            assert "evidence for AI-generated rather than Real" in sent.params["caption"]
            assert sent.reply_to == tapped["message_id"]  # threaded to the verdict
            assert len(fake.calls_of("answerCallbackQuery")) == 2
            assert fake.calls_of("sendMessage")[1].text == texts.WHY_IMAGE_GONE
            assert len(fake.file_downloads) == 2  # the verdict, then the explanation

    run(scenario(), timeout=60)


def test_why_says_so_when_the_model_cannot_explain(
    tiny_server: Server, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake:
            settings = settings_for(
                fake, tiny_server.inference_url, AI_DETECTOR_MODEL=tiny_server.model_name
            )
            async with polling(settings):
                photo = fake.push_message(photo=fake.photo(make_image(tint="blue")))
                (verdict,) = await fake.wait_for("sendMessage", 1)
                tap_why(fake, verdict, photo)
                replies = await fake.wait_for("sendMessage", 2, timeout=30)
            assert replies[1].text == texts.CANNOT_EXPLAIN
            assert not fake.calls_of("sendPhoto")

    run(scenario(), timeout=60)
