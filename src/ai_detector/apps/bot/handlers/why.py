"""The "Why?" button under a verdict: answers with the heatmap overlay of that image.

The verdict is a reply to the user's image, and Telegram hands that image back inside
the button's message (``reply_to_message``), so the bot keeps no state: it downloads the
image again and asks the service's ``/explanations`` for the verdict and its overlay,
which it sends as a photo threaded to the verdict. Every failure ends in a message.
"""

from __future__ import annotations

import logging

import aiohttp
from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BufferedInputFile, CallbackQuery, Message

from ai_detector.apps.bot import texts
from ai_detector.apps.bot.client import (
    BadServiceResponse,
    DetectorClient,
    ImageRejected,
    NotExplainable,
    ServiceUnavailable,
)
from ai_detector.apps.bot.config import Settings
from ai_detector.apps.bot.handlers.images import download_file

log = logging.getLogger(__name__)


def image_file_id(message: Message | None) -> str | None:
    """The file id of the photo (largest size) or image file in ``message``."""
    if message is None:
        return None
    if message.photo:
        return message.photo[-1].file_id
    return message.document.file_id if message.document else None


async def on_why(
    callback: CallbackQuery, bot: Bot, detector: DetectorClient, settings: Settings
) -> None:
    # Stop the spinner on the button first: Telegram shows it until the query is answered.
    await callback.answer()
    verdict = callback.message if isinstance(callback.message, Message) else None
    file_id = image_file_id(verdict.reply_to_message if verdict else None)
    chat = verdict.chat.id if verdict else callback.from_user.id
    if verdict is None or file_id is None:
        log.info("chat %s: why? for a verdict whose image is gone", chat)
        await bot.send_message(chat, texts.WHY_IMAGE_GONE)
        return
    try:
        data = await download_file(bot, file_id, settings)
        found = await detector.explain(data)
    except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("chat %s: downloading the image again failed: %r", chat, exc)
        await verdict.reply(texts.DOWNLOAD_FAILED)
    except ImageRejected as exc:
        await verdict.reply(texts.rejected(exc))
    except NotExplainable as exc:
        log.error("chat %s: the service cannot explain: %s", chat, exc)
        await verdict.reply(texts.CANNOT_EXPLAIN)
    except ServiceUnavailable as exc:
        log.error("chat %s: explanation service unavailable: %s", chat, exc)
        await verdict.reply(texts.SERVICE_UNAVAILABLE)
    except BadServiceResponse as exc:
        log.error("chat %s: unexpected answer from the explanation service: %s", chat, exc)
        await verdict.reply(texts.BAD_SERVICE_RESPONSE)
    else:
        log.info("chat %s: why? -> %s overlay", chat, found.prediction.label)
        caption = texts.why_caption(found.prediction.label, found.target, found.against)
        photo = BufferedInputFile(found.overlay_png, filename="why.png")
        await verdict.reply_photo(photo, caption=caption)


def create_router() -> Router:
    router = Router(name="why")
    router.callback_query.register(on_why, F.data == texts.WHY_CALLBACK)
    return router
