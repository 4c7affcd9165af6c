"""The Telegram bot, end to end: real aiogram Dispatcher and Bot, fake Telegram, real model.

Telegram is unreachable here, so the bot talks to :class:`fake_telegram.FakeTelegram`
(a local Bot API server that scripts updates and records replies). The prediction
service is a stand-in that speaks the service's HTTP contract around the real
:class:`~ai_detector.inference.predictor.Predictor` with the tiny ONNX model from conftest, so
labels and input errors come from the real decoding code: neutral images come out
"Real", red ones "AI-generated", blue ones "Deepfake".

    .venv/bin/pytest tests/integration/test_bot.py -q
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp
import pytest
from aiohttp import web

from ai_detector.apps.bot import texts
from ai_detector.apps.bot.app import create_bot, create_dispatcher, create_webhook_app
from ai_detector.apps.bot.client import (
    BadServiceResponse,
    DetectorClient,
    ImageRejected,
    ServiceUnavailable,
)
from ai_detector.apps.bot.config import Settings, load_settings
from ai_detector.inference.errors import InputError
from ai_detector.inference.predictor import Predictor
from tests.integration.fake_telegram import FakeTelegram

if TYPE_CHECKING:
    from ai_detector.serving.torchserve import Server

pytestmark = pytest.mark.integration

TOKEN = "123456:TEST-token_for-the-fake"
MB = 1024 * 1024
# The tiny model's verdict by tint (see conftest.write_tiny_onnx_model).
TINTS = {"none": "Real", "red": "AI-generated", "blue": "Deepfake"}
EXPLANATION = {label: texts.explain(label)[1] for label in ("Real", "AI-generated", "Deepfake")}


def run(coro: Coroutine[Any, Any, Any], timeout: float = 20) -> Any:
    """Drive one scenario; bounded, so a hung conversation fails instead of stalling."""
    return asyncio.run(asyncio.wait_for(coro, timeout=timeout))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class StandInService:
    """The prediction service's HTTP contract around the real Predictor.

    ``fail_with`` makes every request answer that status; ``answer`` replaces the JSON
    of a successful prediction (e.g. to send a label the bot has never heard of).
    """

    def __init__(self, predictor: Predictor, model_name: str = "ai-detector") -> None:
        self.predictor = predictor
        self.model_name = model_name
        self.requests = 0
        self.fail_with: int | None = None
        self.answer: dict[str, Any] | None = None
        self.delay = 0.0
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _predict(self, request: web.Request) -> web.Response:
        self.requests += 1
        await asyncio.sleep(self.delay)
        if request.match_info["model"] != self.model_name:
            return web.json_response({"code": 404, "type": "ModelNotFound"}, status=404)
        if self.fail_with is not None:
            body = {"code": self.fail_with, "type": "ServiceUnavailable", "message": "busy"}
            return web.json_response(body, status=self.fail_with)
        data = await request.read()
        try:
            prediction = self.predictor.predict_one(data)
        except InputError as error:
            return web.json_response(error.to_dict(), status=error.status)
        return web.json_response(self.answer or prediction.to_dict())

    async def __aenter__(self) -> StandInService:
        app = web.Application(client_max_size=25 * MB)
        app.router.add_post("/predictions/{model}", self._predict)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()


@pytest.fixture
def predictor(tiny_model_dir: Path) -> Predictor:
    return Predictor(tiny_model_dir, threads=1)


def settings_for(fake: FakeTelegram, service_url: str, **env: str) -> Settings:
    """Settings the way production reads them, from environment variables."""
    return load_settings(
        {
            "BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": fake.base_url,
            "AI_DETECTOR_URL": service_url,
            "BOT_RETRY_BACKOFF": "0.01",
            "BOT_REQUEST_TIMEOUT": "5",
            **env,
        }
    )


@contextlib.asynccontextmanager
async def polling(
    settings: Settings, detector: DetectorClient | None = None
) -> AsyncIterator[None]:
    """Run the real dispatcher's long polling against the fake until the block ends."""
    bot = create_bot(settings)
    dispatcher = create_dispatcher(settings, detector)
    task = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        yield
    finally:
        if not task.done():
            try:
                await dispatcher.stop_polling()
            except RuntimeError:  # polling had not started yet
                task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises anything that broke polling


async def converse(
    fake: FakeTelegram, settings: Settings, expected: int, detector: DetectorClient | None = None
) -> list[Any]:
    """Poll until ``expected`` replies arrived, then check that no extra one follows."""
    async with polling(settings, detector):
        await fake.wait_for("sendMessage", expected)
        await asyncio.sleep(0.2)
    replies = fake.calls_of("sendMessage")
    assert len(replies) == expected, [reply.text for reply in replies]
    return replies


def replies_to(replies: list[Any], *messages: dict[str, Any]) -> list[str]:
    """Reply texts in the order of ``messages``: updates are handled concurrently."""
    by_message = {reply.reply_to: reply.text for reply in replies}
    return [by_message[message["message_id"]] for message in messages]


def assert_verdict(text: str, label: str) -> None:
    assert f"<b>{label}</b>" in text
    assert "% confidence" in text
    assert EXPLANATION[label] in text


def test_start_and_help_show_help_button_and_the_button_works(predictor: Predictor) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            fake.push_command("/start")
            fake.push_command("/help")
            settings = settings_for(fake, service.url)
            async with polling(settings):
                start, help_ = await fake.wait_for("sendMessage", 2)
                assert "real photo" in start.text and "AI-generated" in start.text
                assert "What I do" in help_.text and "20.0 MB" in help_.text
                for reply in (start, help_):
                    (button,) = reply.params["reply_markup"]["inline_keyboard"][0]
                    assert button == {"text": texts.HELP_BUTTON, "callback_data": "help"}
                # The user taps "Help" under the /start answer.
                start_message = {
                    **fake.message(text=start.text, reply_markup=start.params["reply_markup"]),
                    "from": {"id": 4242, "is_bot": True, "first_name": "AI Detector"},
                }
                fake.push(
                    callback_query={
                        "id": "cb-1",
                        "from": fake.message()["from"],
                        "chat_instance": "ci-1",
                        "data": "help",
                        "message": start_message,
                    }
                )
                replies = await fake.wait_for("sendMessage", 3)
                (answered,) = await fake.wait_for("answerCallbackQuery", 1)
            assert answered.params["callback_query_id"] == "cb-1"
            assert "What I do" in replies[2].text
            assert service.requests == 0
            # The command menu is set and a stale webhook removed before polling.
            assert fake.calls_of("setMyCommands") and fake.calls_of("deleteWebhook")

    run(scenario())


def test_photos_get_label_percentage_and_explanation(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            sent = [
                fake.push_message(photo=fake.photo(make_image(seed=i, tint=tint)))
                for i, tint in enumerate(TINTS)
            ]
            replies = await converse(fake, settings_for(fake, service.url), expected=3)
            for text, label in zip(replies_to(replies, *sent), TINTS.values(), strict=True):
                assert_verdict(text, label)
            # The bot asked for the full-size photo, never the thumbnail Telegram also sent.
            assert not set(fake.file_downloads) & fake.thumbnail_paths
            assert len(fake.file_downloads) == service.requests == 3

    run(scenario())


def test_image_sent_as_document_is_checked_uncompressed(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            png = make_image(fmt="PNG", tint="red")
            first = fake.push_message(document=fake.document(png, "render.png", "image/png"))
            # Some clients send no MIME type; the file name still says it is an image.
            jpeg = make_image(tint="blue")
            second = fake.push_message(document=fake.document(jpeg, "IMG_0001.JPG", None))
            binary = fake.document(make_image(fmt="PNG"), "scan.png", "application/octet-stream")
            third = fake.push_message(document=binary)
            replies = await converse(fake, settings_for(fake, service.url), expected=3)
            said = replies_to(replies, first, second, third)
            assert_verdict(said[0], "AI-generated")
            assert_verdict(said[1], "Deepfake")
            assert_verdict(said[2], "Real")

    run(scenario())


def test_album_gets_one_answer_per_image(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            photos = [fake.photo(make_image(seed=i, tint=tint)) for i, tint in enumerate(TINTS)]
            # Telegram delivers an album as one message per image sharing a media_group_id.
            album = [fake.push_message(photo=photo, media_group_id="77") for photo in photos]
            replies = await converse(fake, settings_for(fake, service.url), expected=3)
            said = replies_to(replies, *album)
            for text, label in zip(said, TINTS.values(), strict=True):
                assert_verdict(text, label)

    run(scenario())


def test_everything_else_gets_a_friendly_note_on_what_is_accepted(predictor: Predictor) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            media = {"file_id": "X", "file_unique_id": "UX"}
            sent = {
                "text": fake.push_message(text="is this real?"),
                "sticker": fake.push_message(
                    sticker={
                        **media,
                        "type": "regular",
                        "width": 512,
                        "height": 512,
                        "is_animated": False,
                        "is_video": False,
                    }
                ),
                "video": fake.push_message(
                    video={**media, "width": 640, "height": 360, "duration": 3}
                ),
                "voice": fake.push_message(voice={**media, "duration": 2}),
                "pdf": fake.push_message(
                    document=fake.document(b"%PDF-1.4 not an image", "paper.pdf", "application/pdf")
                ),
                "command": fake.push_command("/detect"),
            }
            replies = await converse(fake, settings_for(fake, service.url), expected=len(sent))
            said = dict(zip(sent, replies_to(replies, *sent.values()), strict=True))
            assert all(texts.ACCEPTS in text for text in said.values()), said
            assert "not text" in said["text"]
            assert "stickers" in said["sticker"]
            assert "videos" in said["video"]
            assert "voice messages" in said["voice"]
            assert "application/pdf" in said["pdf"]
            assert "don't know that command" in said["command"]
            assert fake.file_downloads == [] and service.requests == 0

    run(scenario())


def test_oversize_file_is_refused_without_downloading(
    predictor: Predictor, make_image: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            huge = fake.document(make_image(), "huge.tiff", "image/tiff", file_size=25 * MB)
            document = fake.push_message(document=huge)
            # A limit below Telegram's also applies to photos.
            photo = fake.push_message(photo=fake.photo(make_image(size=(400, 300))))
            settings = settings_for(fake, service.url, BOT_MAX_FILE_MB="0.01")
            replies = await converse(fake, settings, expected=2)
            first, second = replies_to(replies, document, photo)
            assert "more than I can check" in first and "25.0 MB" in first
            assert "more than I can check" in second and "up to 10 KB" in second
            assert fake.file_downloads == [] and service.requests == 0

    with caplog.at_level(logging.WARNING, logger="ai_detector.apps.bot"):
        run(scenario())
    assert any("over the" in record.getMessage() for record in caplog.records)


def test_images_the_service_rejects_get_a_clear_reason(
    predictor: Predictor, make_image: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            garbage = fake.document(b"\x89PNG nope", "broken.png", "image/png")
            first = fake.push_message(document=garbage)
            tiny = make_image(fmt="PNG", size=(10, 8))
            second = fake.push_message(document=fake.document(tiny, "icon.png", "image/png"))
            replies = await converse(fake, settings_for(fake, service.url), expected=2)
            not_image, too_small = replies_to(replies, first, second)
            assert "could not read this file as an image" in not_image
            assert "too small" in too_small
            assert service.requests == 2  # a 4xx is an answer, never retried

    with caplog.at_level(logging.INFO, logger="ai_detector.apps.bot"):
        run(scenario())
    assert any("rejected" in record.getMessage() for record in caplog.records)


def test_service_down_gives_a_clear_message_and_a_log_line(
    make_image: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake:
            message = fake.push_message(photo=fake.photo(make_image()))
            down = f"http://127.0.0.1:{closed_port()}"
            (reply,) = await converse(fake, settings_for(fake, down), expected=1)
            assert reply.text == texts.SERVICE_UNAVAILABLE
            assert reply.reply_to == message["message_id"]

    with caplog.at_level(logging.WARNING, logger="ai_detector.apps.bot"):
        run(scenario())
    messages = [record.getMessage() for record in caplog.records]
    assert sum("retry" in message for message in messages) == 2  # BOT_RETRIES default
    assert any("unavailable" in message for message in messages)


def test_overloaded_service_is_retried_then_reported(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            service.fail_with = 503
            fake.push_message(photo=fake.photo(make_image()))
            settings = settings_for(fake, service.url, BOT_RETRIES="1")
            (reply,) = await converse(fake, settings, expected=1)
            assert reply.text == texts.SERVICE_UNAVAILABLE
            assert service.requests == 2

    run(scenario())


def test_slow_service_times_out_without_retrying(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            service.delay = 0.8
            fake.push_message(photo=fake.photo(make_image()))
            settings = settings_for(fake, service.url, BOT_REQUEST_TIMEOUT="0.2")
            (reply,) = await converse(fake, settings, expected=1)
            assert reply.text == texts.SERVICE_UNAVAILABLE
            assert service.requests == 1

    run(scenario())


class BrokenDetector(DetectorClient):
    async def predict(self, data: bytes) -> Any:
        raise RuntimeError("a bug, not a service problem")


def test_a_bug_in_a_handler_still_gets_an_answer(
    make_image: Callable[..., bytes], caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake:
            fake.push_message(photo=fake.photo(make_image()))
            settings = settings_for(fake, f"http://127.0.0.1:{closed_port()}")
            detector = BrokenDetector(settings.predict_url)
            (reply,) = await converse(fake, settings, expected=1, detector=detector)
            assert reply.text == texts.UNEXPECTED_ERROR

    with caplog.at_level(logging.ERROR, logger="ai_detector.apps.bot"):
        run(scenario())
    assert any("a bug, not a service problem" in record.getMessage() for record in caplog.records)


def test_unknown_label_gets_a_generic_explanation(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            service.answer = {"label": "Cartoon <3", "confidence": 0.55, "model_version": "v9"}
            fake.push_message(photo=fake.photo(make_image()))
            (reply,) = await converse(fake, settings_for(fake, service.url), expected=1)
            assert "<b>Cartoon &lt;3</b> — 55% confidence" in reply.text
            assert texts.explain("Cartoon")[1] in reply.text
            assert "not very sure" in reply.text

    run(scenario())


def test_webhook_mode_receives_updates_and_replies(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            settings = settings_for(
                fake,
                service.url,
                BOT_MODE="webhook",
                BOT_WEBHOOK_URL="https://bot.example.org/tg/hook",
                BOT_WEBHOOK_SECRET="s3cret",
            )
            bot = create_bot(settings)
            app = create_webhook_app(settings, bot, create_dispatcher(settings))
            runner = web.AppRunner(app, handle_signals=False, access_log=None)
            await runner.setup()
            try:
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                host, port = runner.addresses[0][:2]
                (set_webhook,) = fake.calls_of("setWebhook")
                assert set_webhook.params["url"] == "https://bot.example.org/tg/hook"
                assert set_webhook.params["secret_token"] == "s3cret"
                photo = fake.message(photo=fake.photo(make_image(tint="red")))
                update = {"update_id": 1, "message": photo}
                url = f"http://{host}:{port}/tg/hook"
                async with aiohttp.ClientSession() as http:
                    async with http.post(url, json=update) as response:
                        assert response.status == 401  # no secret header
                    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
                    async with http.post(url, json=update, headers=headers) as response:
                        assert response.status == 200
                    async with http.get(f"http://{host}:{port}/healthz") as response:
                        assert response.status == 200
                (reply,) = await fake.wait_for("sendMessage", 1)
                assert_verdict(reply.text, "AI-generated")
            finally:
                await runner.cleanup()

    run(scenario())


@pytest.mark.slow
def test_conversation_against_real_torchserve(
    tiny_server: Server, make_image: Callable[..., bytes]
) -> None:
    """The same conversation, with the real TorchServe service instead of the stand-in."""

    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake:
            photo = fake.push_message(photo=fake.photo(make_image(tint="red")))
            document = fake.push_message(
                document=fake.document(make_image(tint="blue"), "x.jpg", "image/jpeg")
            )
            text = b"just some text, not an image"
            bogus = fake.push_message(document=fake.document(text, "notes.png", "image/png"))
            settings = settings_for(
                fake, tiny_server.inference_url, AI_DETECTOR_MODEL=tiny_server.model_name
            )
            replies = await converse(fake, settings, expected=3)
            said = replies_to(replies, photo, document, bogus)
            assert_verdict(said[0], "AI-generated")
            assert_verdict(said[1], "Deepfake")
            assert "could not read this file as an image" in said[2]

    run(scenario())


def test_client_contract(predictor: Predictor, make_image: Callable[..., bytes]) -> None:
    async def scenario() -> None:
        async with StandInService(predictor) as service:
            client = DetectorClient(f"{service.url}/predictions/ai-detector", retries=2)
            try:
                result = await client.predict(make_image(tint="blue"))
                assert result.label == "Deepfake" and 0.5 < result.confidence <= 1
                assert set(result.probabilities) == {"Real", "AI-generated", "Deepfake"}
                with pytest.raises(ImageRejected) as rejected:
                    await client.predict(b"")
                assert rejected.value.code == "empty_input" and service.requests == 2
                service.answer = {"verdict": "Real"}
                with pytest.raises(BadServiceResponse):
                    await client.predict(make_image())
            finally:
                await client.close()
            wrong_model = DetectorClient(f"{service.url}/predictions/nope", retries=2)
            try:
                with pytest.raises(ServiceUnavailable):  # a deployment problem, not the image
                    await wrong_model.predict(make_image())
            finally:
                await wrong_model.close()
            assert service.requests == 4  # 404 is not retried either

    run(scenario())


def test_entry_point_polls_answers_and_stops_on_sigterm(
    predictor: Predictor, make_image: Callable[..., bytes]
) -> None:
    """`python -m ai_detector.apps.bot` (what `make bot` runs), configured only by environment."""

    async def scenario() -> None:
        async with FakeTelegram(TOKEN) as fake, StandInService(predictor) as service:
            fake.push_command("/start")
            photo = fake.push_message(photo=fake.photo(make_image(tint="blue")))
            env = {
                **os.environ,
                "BOT_TOKEN": TOKEN,
                "TELEGRAM_API_URL": fake.base_url,
                "AI_DETECTOR_URL": service.url,
            }
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ai_detector.apps.bot",
                env=env,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                # A fresh interpreter imports aiogram first: seconds on a loaded machine.
                replies = await fake.wait_for("sendMessage", 2, timeout=60)
            finally:
                process.send_signal(signal.SIGTERM)
                output, _ = await asyncio.wait_for(process.communicate(), 10)
            log = output.decode()
            assert process.returncode == 0, log
            assert "Start polling" in log and "Polling stopped" in log
            assert TOKEN not in log
            assert any(reply.text == texts.START for reply in replies)
            (verdict,) = replies_to([r for r in replies if r.reply_to], photo)
            assert_verdict(verdict, "Deepfake")

    run(scenario(), timeout=90)


def test_missing_bot_token_is_a_clear_error() -> None:
    env = {key: value for key, value in os.environ.items() if key != "BOT_TOKEN"}
    result = subprocess.run(
        [sys.executable, "-m", "ai_detector.apps.bot"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "BOT_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.stderr
