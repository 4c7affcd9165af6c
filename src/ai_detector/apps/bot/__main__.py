"""Entry point: ``python -m ai_detector.apps.bot`` (what ``make bot`` runs).

Reads the settings from the environment (see :mod:`ai_detector.apps.bot.config`), then runs
long polling or, with ``BOT_MODE=webhook``, a webhook server. Exits with status 2 and
a one-line explanation when the configuration is wrong, e.g. ``BOT_TOKEN`` is missing.
"""

from __future__ import annotations

import logging
import os

from ai_detector.apps.bot.config import ConfigError, load_settings

log = logging.getLogger("ai_detector.apps.bot")


def _configure_logging() -> None:
    name = os.environ.get("LOG_LEVEL", "INFO").upper()
    level = logging.getLevelName(name)
    logging.basicConfig(
        level=level if isinstance(level, int) else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def main() -> int:
    _configure_logging()
    try:
        settings = load_settings()
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    log.info("settings: %s", settings)  # secrets are excluded from the repr
    # aiogram takes seconds to import (pydantic models); a config error should be instant.
    from ai_detector.apps.bot.app import run

    run(settings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
