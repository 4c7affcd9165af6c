"""A fake Telegram Bot API server for tests: aiohttp on 127.0.0.1, random free port.

Point a real aiogram ``Bot`` at it with
``AiohttpSession(api=TelegramAPIServer.from_base(fake.base_url))`` (or the bot's
``TELEGRAM_API_URL`` setting). It

- serves ``getUpdates`` from a script of updates (honouring ``offset``, then long-polls
  briefly with empty results), so the real Dispatcher polling loop runs unmodified;
- serves ``getFile`` and ``/file/bot<token>/<path>`` with real bytes the test registered;
- records every other method call (``sendMessage``, ``answerCallbackQuery``, ...) and
  answers it the way Telegram would, so the test can inspect what the bot said.

    async with FakeTelegram(TOKEN) as fake:
        fake.push_message(text="/start")
        ...
        replies = await fake.wait_for("sendMessage", 1)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from PIL import Image

USER = {"id": 1001, "is_bot": False, "first_name": "Tess", "username": "tess"}
CHAT = {"id": 1001, "type": "private", "first_name": "Tess", "username": "tess"}
BOT_USER = {
    "id": 4242,
    "is_bot": True,
    "first_name": "AI Detector",
    "username": "ai_detector_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
# Parameters aiogram sends JSON-encoded inside the form; decoded for easy assertions.
JSON_PARAMS = {"reply_markup", "reply_parameters", "link_preview_options", "allowed_updates"}
# Methods answered with a plain `true`, as Telegram does.
TRUE_METHODS = {
    "answerCallbackQuery",
    "sendChatAction",
    "deleteWebhook",
    "setWebhook",
    "setMyCommands",
    "deleteMyCommands",
}


@dataclass
class Call:
    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def reply_to(self) -> int | None:
        """The message id this message replies to, whichever way aiogram encoded it."""
        reply = self.params.get("reply_parameters")
        if isinstance(reply, dict) and "message_id" in reply:
            return int(reply["message_id"])
        legacy = self.params.get("reply_to_message_id")
        return int(legacy) if legacy is not None else None


def _error(status: int, description: str) -> web.Response:
    return web.json_response(
        {"ok": False, "error_code": status, "description": description}, status=status
    )


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


class FakeTelegram:
    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[Call] = []
        self.updates: list[dict[str, Any]] = []
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, bytes)
        self.file_downloads: list[str] = []
        self.thumbnail_paths: set[str] = set()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)
        self._sent_ids = itertools.count(10_000)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- server lifecycle -------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        return self.base_url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegram:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- scripting ------------------------------------------------------------------

    def push(self, **update: Any) -> dict[str, Any]:
        """Queue an update (e.g. ``message=...``); returns it with its update_id."""
        update = {"update_id": next(self._update_ids), **update}
        self.updates.append(update)
        self._new_update.set()
        return update

    def message(self, **content: Any) -> dict[str, Any]:
        """A user's message in the private chat, e.g. ``message(text="hi")``."""
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": CHAT,
            "from": USER,
            **content,
        }

    def push_message(self, **content: Any) -> dict[str, Any]:
        message = self.message(**content)
        self.push(message=message)
        return message

    def push_command(self, command: str) -> dict[str, Any]:
        """A ``/command`` message, with the entity Telegram marks commands with."""
        entity = {"type": "bot_command", "offset": 0, "length": len(command.split(maxsplit=1)[0])}
        return self.push_message(text=command, entities=[entity])

    def add_file(self, data: bytes, file_path: str) -> dict[str, Any]:
        """Make ``data`` downloadable; returns the file_id/file_unique_id/file_size fields."""
        file_id = f"FILE{len(self.files) + 1:04d}"
        self.files[file_id] = (file_path, data)
        return {"file_id": file_id, "file_unique_id": f"U{file_id}", "file_size": len(data)}

    def photo(self, data: bytes) -> list[dict[str, Any]]:
        """PhotoSize list as Telegram sends it: a small thumbnail first, the full size last."""
        image = Image.open(io.BytesIO(data))
        thumb = image.convert("RGB")
        thumb.thumbnail((12, 12))  # too small for the service, so using it would show
        buffer = io.BytesIO()
        thumb.save(buffer, "JPEG")
        sizes = []
        for img, blob in ((thumb, buffer.getvalue()), (image, data)):
            path = f"photos/file_{len(self.files)}.jpg"
            sizes.append({**self.add_file(blob, path), "width": img.width, "height": img.height})
        self.thumbnail_paths.add(f"photos/file_{len(self.files) - 2}.jpg")
        return sizes

    def document(
        self, data: bytes, file_name: str, mime_type: str | None, file_size: int | None = None
    ) -> dict[str, Any]:
        ref = self.add_file(data, f"documents/{len(self.files)}_{file_name}")
        if file_size is not None:
            ref["file_size"] = file_size  # pretend it is bigger than what we serve
        document = {**ref, "file_name": file_name}
        if mime_type:
            document["mime_type"] = mime_type
        return document

    # -- inspection -----------------------------------------------------------------

    def calls_of(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    async def wait_for(self, method: str, count: int, timeout: float = 10.0) -> list[Call]:
        """Wait until ``count`` calls of ``method`` arrived; fail with what did arrive."""
        deadline = time.monotonic() + timeout
        while len(self.calls_of(method)) < count:
            if time.monotonic() > deadline:
                seen = [(call.method, call.text[:60]) for call in self.calls]
                raise AssertionError(f"expected {count} {method} calls in {timeout}s, got {seen}")
            await asyncio.sleep(0.01)
        return self.calls_of(method)

    # -- HTTP handlers --------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        params: dict[str, Any] = {}
        for key, value in (await request.post()).items():
            if isinstance(value, web.FileField):  # an upload (sendPhoto): keep its bytes
                params[key] = value.file.read()
                continue
            text = value if isinstance(value, str) else repr(value)
            params[key] = json.loads(text) if key in JSON_PARAMS else text
        return params

    async def _handle_method(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        if method == "getUpdates":
            return await self._get_updates(params)
        self.calls.append(Call(method, params))
        result: Any
        if method == "getFile":
            return self._get_file(params)
        if method == "getMe":
            result = BOT_USER
        elif method in {"sendMessage", "editMessageText"}:
            result = self._sent_message(params)
        elif method == "sendPhoto":
            result = {**self._sent_message(params), "photo": [self.add_file(b"", "sent.png")]}
            result["photo"][0].update(width=1, height=1)
        elif method in TRUE_METHODS:
            result = True
        else:
            return _error(404, f"Not Found: method {method} is not faked")
        return _ok(result)

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = int(params.get("offset", 0))
        # Long polling, but short: a real server would hold for `timeout` seconds.
        wait = min(float(params.get("timeout", 0)), 0.25)
        pending = [u for u in self.updates if u["update_id"] >= offset]
        if not pending and wait > 0:
            self._new_update.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._new_update.wait(), wait)
            pending = [u for u in self.updates if u["update_id"] >= offset]
        return _ok(pending[:100])

    def _get_file(self, params: dict[str, Any]) -> web.Response:
        file_id = str(params.get("file_id"))
        if file_id not in self.files:
            return _error(400, "Bad Request: invalid file_id")
        path, data = self.files[file_id]
        if len(data) > 20 * 1024 * 1024:
            return _error(400, "Bad Request: file is too big")
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"U{file_id}",
                "file_size": len(data),
                "file_path": path,
            }
        )

    async def _handle_file(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.Response(status=401)
        path = request.match_info["path"]
        self.file_downloads.append(path)
        for file_path, data in self.files.values():
            if file_path == path:
                return web.Response(body=data, content_type="application/octet-stream")
        return web.Response(status=404)

    def _sent_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or next(self._sent_ids)),
            "date": int(time.time()),
            "chat": {**CHAT, "id": chat_id},
            "from": BOT_USER,
            "text": params.get("text", ""),
        }
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return message
