"""Last line of defence: an unexpected exception in any handler gets logged and answered.

The image handler already turns every expected failure into a message; this catches
bugs, so that even then the user hears back instead of the bot going silent.
"""

from __future__ import annotations

import logging

from aiogram import Bot, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ErrorEvent

from ai_detector.apps.bot import texts

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, bot: Bot) -> None:
    update = event.update
    log.error(
        "unhandled error in update %s: %r",
        update.update_id,
        event.exception,
        exc_info=event.exception,
    )
    chat_id = None
    if update.message is not None:
        chat_id = update.message.chat.id
    elif update.callback_query is not None:
        chat_id = update.callback_query.from_user.id
    if chat_id is None:
        return
    try:
        await bot.send_message(chat_id, texts.UNEXPECTED_ERROR)
    except TelegramAPIError as exc:
        log.warning("could not tell chat %s about the error: %r", chat_id, exc)


def create_router() -> Router:
    router = Router(name="errors")
    # Errors from any router propagate to the whole tree, so this sees them all.
    router.errors.register(on_error)
    return router
