"""Everything that is not an image: text, commands, stickers, video, voice, other files.

This router goes last, so it only sees messages the image router did not take, and
answers each with a friendly note on what the bot accepts instead of staying silent.
"""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.enums import ContentType
from aiogram.types import Message

from ai_detector.apps.bot import texts

log = logging.getLogger(__name__)


async def on_unknown_command(message: Message) -> None:
    log.info("unknown command %r from chat %s", (message.text or "")[:50], message.chat.id)
    await message.reply(texts.UNKNOWN_COMMAND)


async def on_anything_else(message: Message) -> None:
    # content_type is a (str, Enum) member; str() of it would be "ContentType.TEXT".
    kind = ContentType(message.content_type).value
    mime_type = message.document.mime_type if message.document else None
    log.info("unsupported %s (%s) from chat %s", kind, mime_type or "-", message.chat.id)
    await message.reply(texts.unsupported(kind, mime_type))


def create_router() -> Router:
    router = Router(name="other")
    router.message.register(on_unknown_command, F.text.startswith("/"))
    router.message.register(on_anything_else)
    return router
