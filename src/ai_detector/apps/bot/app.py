"""Build the Bot and Dispatcher and run them, by long polling (default) or a webhook.

    BOT_TOKEN=... python -m ai_detector.apps.bot                     # long polling
    BOT_TOKEN=... BOT_MODE=webhook BOT_WEBHOOK_URL=https://bot.example.com/tg \\
        BOT_WEBHOOK_SECRET=... python -m ai_detector.apps.bot        # webhook on :8081/tg

Tests build the same objects with :func:`create_bot` / :func:`create_dispatcher` and
point the bot at a fake Bot API with ``TELEGRAM_API_URL``.
"""

from __future__ import annotations

import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand
from aiogram.webhook.aiohttp_server import SimpleRequestHandler, setup_application
from aiohttp import web

from ai_detector.apps.bot.client import DetectorClient
from ai_detector.apps.bot.config import Settings
from ai_detector.apps.bot.handlers import create_routers

log = logging.getLogger(__name__)

BOT_COMMANDS = [
    BotCommand(command="start", description="What this bot does"),
    BotCommand(command="help", description="Labels, accepted files and limits"),
]


def create_bot(settings: Settings) -> Bot:
    if settings.telegram_api_url:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_url))
    else:
        session = AiohttpSession()
    defaults = DefaultBotProperties(
        parse_mode=ParseMode.HTML,
        # A reply must still arrive if the user deleted the image in the meantime.
        allow_sending_without_reply=True,
        link_preview_is_disabled=True,
    )
    return Bot(settings.bot_token, session=session, default=defaults)


def create_dispatcher(settings: Settings, detector: DetectorClient | None = None) -> Dispatcher:
    """A dispatcher whose handlers get ``settings`` and ``detector`` injected by name."""
    dispatcher = Dispatcher(
        settings=settings, detector=detector or DetectorClient.from_settings(settings)
    )
    dispatcher.include_routers(*create_routers())
    dispatcher.startup.register(_on_startup)
    dispatcher.shutdown.register(_on_shutdown)
    return dispatcher


async def _on_startup(bot: Bot, dispatcher: Dispatcher, settings: Settings) -> None:
    try:
        await bot.set_my_commands(BOT_COMMANDS)
    except TelegramAPIError as exc:
        # Only the command menu is missing; the bot itself works, so keep going.
        log.warning("could not set the command menu: %r", exc)
    if settings.mode == "webhook":
        assert settings.webhook_url is not None  # load_settings enforces it
        # No try: without a webhook Telegram sends nothing, so failing loudly is better.
        await bot.set_webhook(
            settings.webhook_url,
            secret_token=settings.webhook_secret,
            allowed_updates=dispatcher.resolve_used_update_types(),
        )
        log.info("webhook set to %s", settings.webhook_url)
    else:
        try:
            # A webhook left over from an earlier run would make getUpdates fail.
            await bot.delete_webhook(drop_pending_updates=False)
        except TelegramAPIError as exc:
            log.warning("could not delete the webhook: %r", exc)
    log.info("bot started (%s), prediction service at %s", settings.mode, settings.predict_url)


async def _on_shutdown(detector: DetectorClient) -> None:
    await detector.close()
    log.info("bot stopped")


async def run_polling(settings: Settings) -> None:
    bot = create_bot(settings)
    dispatcher = create_dispatcher(settings)
    # start_polling handles SIGINT/SIGTERM, runs startup/shutdown and closes the session.
    await dispatcher.start_polling(bot, allowed_updates=dispatcher.resolve_used_update_types())


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_webhook_app(settings: Settings, bot: Bot, dispatcher: Dispatcher) -> web.Application:
    """An aiohttp app that takes Telegram's POSTs on ``settings.webhook_path``."""
    app = web.Application()
    SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=settings.webhook_secret
    ).register(app, path=settings.webhook_path)
    setup_application(app, dispatcher, bot=bot)
    app.router.add_get("/healthz", _healthz)
    return app


def run_webhook(settings: Settings) -> None:
    if not settings.webhook_secret:
        log.warning("BOT_WEBHOOK_SECRET is not set: anyone who knows the URL can post updates")
    bot = create_bot(settings)
    app = create_webhook_app(settings, bot, create_dispatcher(settings))
    log.info(
        "listening for Telegram on %s:%d%s",
        settings.webhook_host,
        settings.webhook_port,
        settings.webhook_path,
    )
    web.run_app(app, host=settings.webhook_host, port=settings.webhook_port, print=None)


def run(settings: Settings) -> None:
    if settings.mode == "webhook":
        run_webhook(settings)
    else:
        asyncio.run(run_polling(settings))
