"""Photos and image files: download from Telegram, ask the service, reply with the verdict.

Every way this can fail (file too big, download error, image rejected, service down)
ends in a reply to the user and a log line. Each image of an album arrives as its own
message, so each gets its own reply, threaded to it.
"""

from __future__ import annotations

import io
import logging
import time
from pathlib import PurePath

import aiohttp
from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Document, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ai_detector.apps.bot import texts
from ai_detector.apps.bot.client import (
    BadServiceResponse,
    DetectorClient,
    ImageRejected,
    ServiceUnavailable,
)
from ai_detector.apps.bot.config import Settings

log = logging.getLogger(__name__)

# For documents that arrive without a useful MIME type (some clients, renamed files).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".avif"}
)


def is_image_document(document: Document | None) -> bool:
    """True for a file that claims to be an image, by MIME type or else by file name."""
    if document is None:
        return False
    mime_type = (document.mime_type or "").lower()
    if mime_type.startswith("image/"):
        return True
    # Clients label files they do not recognise (often HEIC) as generic binary data.
    if mime_type in {"", "application/octet-stream"}:
        return PurePath(document.file_name or "").suffix.lower() in IMAGE_SUFFIXES
    return False


async def has_image_document(message: Message) -> bool:
    # A coroutine on purpose: aiogram runs plain-function filters in a worker thread.
    # GIF animations also carry a `document` for old clients; they are not still images.
    return message.animation is None and is_image_document(message.document)


def why_keyboard() -> InlineKeyboardMarkup:
    """The "Why?" button under a verdict (handlers.why answers it)."""
    button = InlineKeyboardButton(text=texts.WHY_BUTTON, callback_data=texts.WHY_CALLBACK)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def download_file(bot: Bot, file_id: str, settings: Settings) -> bytes:
    buffer = io.BytesIO()
    await bot.download(file_id, destination=buffer, timeout=int(settings.download_timeout))
    return buffer.getvalue()


async def check_image(
    message: Message,
    *,
    bot: Bot,
    detector: DetectorClient,
    settings: Settings,
    file_id: str,
    file_size: int | None,
    kind: str,
) -> None:
    chat = message.chat.id
    limit = settings.max_file_size
    if file_size is not None and file_size > limit:
        # Refuse before downloading: Telegram would refuse getFile above 20 MB anyway.
        log.warning("chat %s: %s of %d bytes is over the %d limit", chat, kind, file_size, limit)
        await message.reply(texts.too_large(file_size, limit))
        return
    try:
        # Purely cosmetic ("typing…" while we work); never let it block the answer.
        await bot.send_chat_action(chat, ChatAction.TYPING)
    except TelegramAPIError as exc:
        log.debug("chat %s: send_chat_action failed: %r", chat, exc)

    started = time.monotonic()
    try:
        data = await download_file(bot, file_id, settings)
    except TelegramBadRequest as exc:
        log.warning("chat %s: Telegram refused the %s download: %s", chat, kind, exc.message)
        if "too big" in exc.message.lower():
            await message.reply(texts.too_large(file_size or limit + 1, limit))
        else:
            await message.reply(texts.DOWNLOAD_FAILED)
        return
    except (TelegramAPIError, aiohttp.ClientError, TimeoutError) as exc:
        log.warning("chat %s: downloading the %s failed: %r", chat, kind, exc)
        await message.reply(texts.DOWNLOAD_FAILED)
        return
    if len(data) > limit:  # file_size is optional in the Bot API, so check again
        log.warning("chat %s: %s of %d bytes is over the %d limit", chat, kind, len(data), limit)
        await message.reply(texts.too_large(len(data), limit))
        return

    try:
        result = await detector.predict(data)
    except ImageRejected as exc:
        log.info("chat %s: service rejected the %s: %s", chat, kind, exc)
        await message.reply(texts.rejected(exc))
    except ServiceUnavailable as exc:
        log.error("chat %s: prediction service unavailable: %s", chat, exc)
        await message.reply(texts.SERVICE_UNAVAILABLE)
    except BadServiceResponse as exc:
        log.error("chat %s: unexpected answer from the prediction service: %s", chat, exc)
        await message.reply(texts.BAD_SERVICE_RESPONSE)
    else:
        log.info(
            "chat %s: %s of %d bytes -> %s %.3f (model %s) in %.2fs",
            chat,
            kind,
            len(data),
            result.label,
            result.confidence,
            result.model_version or "?",
            time.monotonic() - started,
        )
        await message.reply(texts.prediction(result), reply_markup=why_keyboard())


async def on_photo(
    message: Message, bot: Bot, detector: DetectorClient, settings: Settings
) -> None:
    # Telegram sends every resolution it made; the last one is the largest.
    photo = (message.photo or [])[-1]
    await check_image(
        message,
        bot=bot,
        detector=detector,
        settings=settings,
        file_id=photo.file_id,
        file_size=photo.file_size,
        kind="photo",
    )


async def on_image_document(
    message: Message, bot: Bot, detector: DetectorClient, settings: Settings
) -> None:
    document = message.document
    assert document is not None  # guaranteed by the filter
    await check_image(
        message,
        bot=bot,
        detector=detector,
        settings=settings,
        file_id=document.file_id,
        file_size=document.file_size,
        kind="image file",
    )


def create_router() -> Router:
    router = Router(name="images")
    router.message.register(on_photo, F.photo)
    router.message.register(on_image_document, has_image_document)
    return router
