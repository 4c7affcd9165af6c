"""Bot settings from environment variables: defaults, validation, clear errors."""

from __future__ import annotations

import dataclasses

import pytest

from ai_detector.apps.bot.config import MB, ConfigError, Settings, load_settings

TOKEN = "123456:ABC-def_ghi"


def test_missing_token_says_what_to_do() -> None:
    with pytest.raises(ConfigError, match=r"BOT_TOKEN is not set.*@BotFather"):
        load_settings({})
    with pytest.raises(ConfigError, match="BOT_TOKEN is not set"):
        load_settings({"BOT_TOKEN": "   "})


def test_malformed_token_is_rejected_without_echoing_it() -> None:
    with pytest.raises(ConfigError, match="malformed") as error:
        load_settings({"BOT_TOKEN": "not-a-token-secret"})
    assert "not-a-token-secret" not in str(error.value)


def test_defaults() -> None:
    settings = load_settings({"BOT_TOKEN": TOKEN})
    assert settings.predict_url == "http://127.0.0.1:8080/predictions/ai-detector"
    assert settings.mode == "polling" and settings.telegram_api_url is None
    assert settings.max_file_size == 20 * MB
    assert settings.retries == 2 and settings.request_timeout == 30.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.retries = 5


def test_everything_can_be_set() -> None:
    settings = load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "AI_DETECTOR_URL": "http://detector:8080/",
            "AI_DETECTOR_MODEL": "detector-v2",
            "AI_DETECTOR_TOKEN": "svc-secret",
            "BOT_REQUEST_TIMEOUT": "12.5",
            "BOT_CONNECT_TIMEOUT": "2",
            "BOT_RETRIES": "0",
            "BOT_MAX_FILE_MB": "5",
            "TELEGRAM_API_URL": "http://127.0.0.1:8081",
            "BOT_MODE": "WEBHOOK",
            "BOT_WEBHOOK_URL": "https://bot.example.org/tg/hook",
            "BOT_WEBHOOK_PORT": "9000",
            "BOT_WEBHOOK_SECRET": "abc_DEF-123",
        }
    )
    assert settings.predict_url == "http://detector:8080/predictions/detector-v2"
    assert settings.service_token == "svc-secret"
    assert (settings.request_timeout, settings.connect_timeout, settings.retries) == (12.5, 2, 0)
    assert settings.max_file_size == 5 * MB
    assert settings.mode == "webhook" and settings.webhook_path == "/tg/hook"
    assert settings.webhook_port == 9000


def test_secrets_stay_out_of_repr() -> None:
    settings = Settings(bot_token=TOKEN, service_token="svc-secret", webhook_secret="hook-secret")
    assert TOKEN not in repr(settings)
    assert "svc-secret" not in repr(settings) and "hook-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AI_DETECTOR_URL": "localhost:8080"}, "AI_DETECTOR_URL"),
        ({"BOT_REQUEST_TIMEOUT": "soon"}, "BOT_REQUEST_TIMEOUT.*not a number"),
        ({"BOT_RETRIES": "-1"}, "BOT_RETRIES.*at least 0"),
        ({"BOT_MAX_FILE_MB": "50"}, "20 MB"),
        ({"BOT_MODE": "carrier-pigeon"}, "BOT_MODE"),
        ({"BOT_MODE": "webhook"}, "BOT_WEBHOOK_URL"),
        (
            {
                "BOT_MODE": "webhook",
                "BOT_WEBHOOK_URL": "https://x.org",
                "BOT_WEBHOOK_SECRET": "a b",
            },
            "BOT_WEBHOOK_SECRET",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({"BOT_TOKEN": TOKEN, **env})


def test_the_default_webhook_port_is_none_of_torchserves() -> None:
    """It used to be 8081, TorchServe's management port on the same host."""
    from pathlib import Path
    from urllib.parse import urlsplit

    from ai_detector.contract import read_properties

    config = read_properties(Path(__file__).resolve().parents[2] / "config.properties")
    ports = {urlsplit(v).port for k, v in config.items() if k.endswith("_address") and "//" in v}
    ports |= {int(v) for k, v in config.items() if k.startswith("grpc_") and k.endswith("_port")}
    assert {8080, 8081, 8082} <= ports
    assert load_settings({"BOT_TOKEN": TOKEN}).webhook_port not in ports
