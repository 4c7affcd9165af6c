"""harness.loadgen against a tiny local aiohttp server: the records both users read.

The benchmark reads ``Run.summary()`` (throughput, percentiles per kind, errors by name),
the load test and the fault test read each request's record (``summarize``, ``DROPPED``).
A second or so of real HTTP on loopback, no TorchServe.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from harness.loadgen import DROPPED, NO_ANSWER, Run, closed_loop, open_loop, summarize

from ai_detector.contract import TOKEN_ENV


@dataclass(frozen=True)
class Item:
    data: bytes
    kind: str


SEEN_AUTH: list[str] = []


async def answer(request: web.Request) -> web.Response:
    SEEN_AUTH.append(request.headers.get("Authorization", ""))
    body = await request.read()
    if body == b"slow":
        await asyncio.sleep(0.3)
    status = 503 if body == b"busy" else 200
    return web.Response(status=status)


async def run_against_server(load: Callable[[str], Awaitable[Run]]) -> Run:
    app = web.Application()
    app.router.add_post("/predictions/ai-detector", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        return await load(f"http://127.0.0.1:{port}/predictions/ai-detector")
    finally:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def no_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    yield


def test_closed_loop_keeps_kinds_and_names_errors() -> None:
    items = [Item(b"ok", "jpeg"), Item(b"busy", "png")]
    run = asyncio.run(
        run_against_server(lambda url: closed_loop(url, items, 2, seconds=5, max_requests=20))
    )
    assert len(run.results) == 20  # the request bound ends the run before the time bound
    summary = run.summary()
    assert summary["ok"] == 10 and summary["errors"] == {"503": 10}
    assert set(summary["by_kind"]) == {"jpeg"} and summary["p95"] is not None
    assert summary["throughput"] > 0


def test_open_loop_records_every_arrival_in_send_order_and_drops_beyond_max_inflight() -> None:
    run = asyncio.run(
        run_against_server(
            lambda url: open_loop(url, [b"slow"], rate=200, seconds=0.5, max_inflight=2)
        )
    )
    sent = [r.sent_s for r in run.results]
    assert sent == sorted(sent)
    statuses = {r.status for r in run.results}
    assert statuses == {200, DROPPED}
    assert run.summary()["errors"]["dropped"] == sum(r.status == DROPPED for r in run.results)
    # Latency runs from the scheduled time: at least the server's 0.3 s.
    assert min(r.latency_s for r in run.results if r.status == 200) >= 0.3
    counts = summarize(run.results)["statuses"]
    assert counts[200] >= 2 and counts[DROPPED] > 0


def test_no_server_is_no_answer_and_the_token_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    run = asyncio.run(closed_loop("http://127.0.0.1:9/none", [b"x"], 1, 5, max_requests=2))
    assert {r.status for r in run.results} == {NO_ANSWER}
    assert run.summary()["errors"] == {"no answer": 2}
    monkeypatch.setenv(TOKEN_ENV, "sekrit")
    run = asyncio.run(run_against_server(lambda url: closed_loop(url, [b"ok"], 1, 5, 5.0, 1)))
    assert [r.status for r in run.results] == [200]
    assert SEEN_AUTH[-1] == "Bearer sekrit"
