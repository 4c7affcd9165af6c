"""Bot settings, read once from environment variables into a frozen dataclass.

Only ``BOT_TOKEN`` is required; everything else has a default that works next to a
service started on the same machine::

    BOT_TOKEN=123456:ABC... python -m ai_detector.apps.bot

=======================  ==========================  ===========================================
Variable                 Default                     Meaning
=======================  ==========================  ===========================================
BOT_TOKEN                (required)                  token from @BotFather
AI_DETECTOR_URL          http://127.0.0.1:8080       base URL of the prediction service
AI_DETECTOR_MODEL        ai-detector                 model name in ``/predictions/<model>``
AI_DETECTOR_TOKEN        (none)                      TorchServe's inference key, if token auth is on
BOT_REQUEST_TIMEOUT      30                          seconds for one whole call to the service
BOT_CONNECT_TIMEOUT      5                           seconds to open a connection to the service
BOT_RETRIES              2                           extra tries on connection error or 502-504
BOT_RETRY_BACKOFF        0.5                         first pause between attempts (doubles)
BOT_MAX_CONCURRENCY      4                           service calls in flight at once
BOT_MAX_FILE_MB          20                          largest file the bot downloads (Telegram: 20)
BOT_DOWNLOAD_TIMEOUT     30                          seconds to download one file from Telegram
TELEGRAM_API_URL         (Telegram's own)            a local Bot API server, e.g. for tests
BOT_MODE                 polling                     ``polling`` or ``webhook``
BOT_WEBHOOK_URL          (none)                      public https URL Telegram posts updates to
BOT_WEBHOOK_PATH         path of BOT_WEBHOOK_URL     local path, if a proxy rewrites it
BOT_WEBHOOK_HOST         0.0.0.0                     address the webhook server listens on
BOT_WEBHOOK_PORT         8443                        port the webhook server listens on
BOT_WEBHOOK_SECRET       (none)                      checked against Telegram's secret header
LOG_LEVEL                INFO                        read by ``python -m ai_detector.apps.bot``
=======================  ==========================  ===========================================
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar
from urllib.parse import urlsplit

from ai_detector.contract import MODEL_NAME

# int or float: both cast from a string and compare with a minimum.
T = TypeVar("T", int, float)

MB = 1024 * 1024
# Telegram refuses getFile for anything larger, so a bigger limit would only fail later.
TELEGRAM_DOWNLOAD_LIMIT = 20 * MB
MODES = ("polling", "webhook")
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class ConfigError(ValueError):
    """A missing or malformed environment variable; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    # Secrets stay out of repr() so that logging the settings cannot leak them.
    bot_token: str = field(repr=False)
    service_url: str = "http://127.0.0.1:8080"
    model_name: str = MODEL_NAME
    service_token: str | None = field(default=None, repr=False)
    request_timeout: float = 30.0
    connect_timeout: float = 5.0
    retries: int = 2
    retry_backoff: float = 0.5
    max_concurrency: int = 4
    max_file_size: int = TELEGRAM_DOWNLOAD_LIMIT
    download_timeout: float = 30.0
    telegram_api_url: str | None = None
    mode: str = "polling"
    webhook_url: str | None = None
    webhook_path: str = "/telegram/webhook"
    webhook_host: str = "0.0.0.0"
    # Not 8080-8082 (TorchServe's inference, management and metrics ports on this host).
    webhook_port: int = 8443
    webhook_secret: str | None = field(default=None, repr=False)

    @property
    def predict_url(self) -> str:
        return f"{self.service_url.rstrip('/')}/predictions/{self.model_name}"


def _get(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


def _number(
    env: Mapping[str, str], name: str, default: T, cast: Callable[[str], T], minimum: float
) -> T:
    raw = _get(env, name)
    if raw is None:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def _http_url(name: str, value: str, schemes: tuple[str, ...] = ("http", "https")) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        wanted = " or ".join(f"{scheme}://" for scheme in schemes)
        raise ConfigError(f"{name}={value!r} is not a URL starting with {wanted}")
    return value.rstrip("/")


def _token(env: Mapping[str, str]) -> str:
    token = _get(env, "BOT_TOKEN")
    if token is None:
        raise ConfigError(
            "BOT_TOKEN is not set. Create a bot with @BotFather in Telegram and run "
            "`BOT_TOKEN=123456:ABC... python -m ai_detector.apps.bot` (or `make bot`)."
        )
    if not _TOKEN_RE.match(token):
        # Never echo the token itself: a typo'd token is still mostly a secret.
        raise ConfigError("BOT_TOKEN is malformed; @BotFather tokens look like '123456:ABC-def_1'")
    return token


def _webhook(env: Mapping[str, str], mode: str) -> tuple[str | None, str, str | None]:
    url = _get(env, "BOT_WEBHOOK_URL")
    secret = _get(env, "BOT_WEBHOOK_SECRET")
    path = _get(env, "BOT_WEBHOOK_PATH")
    if mode == "webhook":
        if url is None:
            raise ConfigError(
                "BOT_MODE=webhook needs BOT_WEBHOOK_URL, the public https URL Telegram will "
                "post updates to, e.g. https://bot.example.com/telegram/webhook"
            )
        url = _http_url("BOT_WEBHOOK_URL", url, ("https", "http"))
    if secret is not None and not _SECRET_RE.match(secret):
        raise ConfigError("BOT_WEBHOOK_SECRET may only hold 1-256 characters A-Z, a-z, 0-9, _, -")
    if path is None:
        path = (urlsplit(url).path if url else "") or Settings.webhook_path
    if not path.startswith("/"):
        raise ConfigError(f"BOT_WEBHOOK_PATH={path!r} must start with '/'")
    return url, path, secret


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: ``os.environ``); raises :class:`ConfigError`."""
    env = os.environ if env is None else env
    token = _token(env)
    mode = (_get(env, "BOT_MODE") or "polling").lower()
    if mode not in MODES:
        raise ConfigError(f"BOT_MODE={mode!r} must be one of: {', '.join(MODES)}")
    webhook_url, webhook_path, webhook_secret = _webhook(env, mode)
    max_file_mb = _number(env, "BOT_MAX_FILE_MB", 20.0, float, 0.001)
    if max_file_mb * MB > TELEGRAM_DOWNLOAD_LIMIT:
        raise ConfigError(f"BOT_MAX_FILE_MB={max_file_mb:g}: Telegram lets bots download 20 MB")
    api_url = _get(env, "TELEGRAM_API_URL")
    defaults = Settings(bot_token=token)
    return Settings(
        bot_token=token,
        service_url=_http_url(
            "AI_DETECTOR_URL", _get(env, "AI_DETECTOR_URL") or defaults.service_url
        ),
        model_name=(_get(env, "AI_DETECTOR_MODEL") or defaults.model_name).strip("/"),
        service_token=_get(env, "AI_DETECTOR_TOKEN"),
        request_timeout=_number(env, "BOT_REQUEST_TIMEOUT", defaults.request_timeout, float, 0.1),
        connect_timeout=_number(env, "BOT_CONNECT_TIMEOUT", defaults.connect_timeout, float, 0.1),
        retries=_number(env, "BOT_RETRIES", defaults.retries, int, 0),
        retry_backoff=_number(env, "BOT_RETRY_BACKOFF", defaults.retry_backoff, float, 0),
        max_concurrency=_number(env, "BOT_MAX_CONCURRENCY", defaults.max_concurrency, int, 1),
        max_file_size=int(max_file_mb * MB),
        download_timeout=_number(env, "BOT_DOWNLOAD_TIMEOUT", defaults.download_timeout, float, 1),
        telegram_api_url=_http_url("TELEGRAM_API_URL", api_url) if api_url else None,
        mode=mode,
        webhook_url=webhook_url,
        webhook_path=webhook_path,
        webhook_host=_get(env, "BOT_WEBHOOK_HOST") or defaults.webhook_host,
        webhook_port=_number(env, "BOT_WEBHOOK_PORT", defaults.webhook_port, int, 1),
        webhook_secret=webhook_secret,
    )
