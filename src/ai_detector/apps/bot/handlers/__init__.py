"""Message handlers, one router per concern, included in this order:

- ``start_help``: /start, /help and the inline Help button;
- ``images``: photos and image files, answered with the verdict and a "Why?" button;
- ``why``: that button, answered with the heatmap overlay;
- ``other``: everything else, answered with what the bot accepts (must come last);
- ``errors``: logs and answers unexpected exceptions from any of them.
"""

from __future__ import annotations

from aiogram import Router

from ai_detector.apps.bot.handlers import errors, images, other, start_help, why


def create_routers() -> list[Router]:
    """Fresh routers for one dispatcher, in the order they must be tried."""
    return [
        start_help.create_router(),
        images.create_router(),
        why.create_router(),
        other.create_router(),
        errors.create_router(),
    ]
