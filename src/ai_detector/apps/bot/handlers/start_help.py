"""/start, /help and the inline "Help" button.

Both commands explain what the bot does and carry the button, so a user who lands
on either message is one tap away from the full help.
"""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from ai_detector.apps.bot import texts
from ai_detector.apps.bot.config import Settings

log = logging.getLogger(__name__)


def help_keyboard() -> InlineKeyboardMarkup:
    button = InlineKeyboardButton(text=texts.HELP_BUTTON, callback_data=texts.HELP_CALLBACK)
    return InlineKeyboardMarkup(inline_keyboard=[[button]])


async def on_start(message: Message) -> None:
    log.info("start from chat %s", message.chat.id)
    await message.answer(texts.START, reply_markup=help_keyboard())


async def on_help(message: Message, settings: Settings) -> None:
    log.info("help from chat %s", message.chat.id)
    await message.answer(texts.help_text(settings.max_file_size), reply_markup=help_keyboard())


async def on_help_button(callback: CallbackQuery, bot: Bot, settings: Settings) -> None:
    # Stop the spinner on the button first: Telegram shows it until the query is answered.
    await callback.answer()
    log.info("help button from user %s", callback.from_user.id)
    text = texts.help_text(settings.max_file_size)
    if isinstance(callback.message, Message):
        await callback.message.answer(text)
    else:
        # The message with the button is too old for Telegram to hand back; the chat
        # with the user who tapped it is still there.
        await bot.send_message(callback.from_user.id, text)


def create_router() -> Router:
    """A fresh router each call: a router can belong to only one dispatcher."""
    router = Router(name="start_help")
    router.message.register(on_start, CommandStart())
    router.message.register(on_help, Command("help"))
    router.callback_query.register(on_help_button, F.data == texts.HELP_CALLBACK)
    return router
