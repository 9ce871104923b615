"""The in-process ASGI client: whole answers, streamed ones included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from litestar import Litestar, get, post
from litestar.params import JSONBody
from litestar.response import Stream

from harness.runtime.asgi import AsgiClient


@get("/chunks", sync_to_thread=False)
def chunks() -> Stream:
    async def parts() -> AsyncIterator[bytes]:
        for number in range(5):
            await asyncio.sleep(0.001)  # as a file read is: the app awaits between parts
            yield f"part {number};".encode()

    return Stream(parts(), media_type="text/plain")


@post("/echo", sync_to_thread=False)
def echo(data: JSONBody[dict[str, int]]) -> dict[str, int]:
    return {key: value + 1 for key, value in data.items()}


def test_asgi_streamed_answer_arrives_whole() -> None:
    client = AsgiClient(Litestar([chunks, echo]))
    reply = client.get("/chunks")
    client.close()
    assert (reply.status, reply.text) == (200, "part 0;part 1;part 2;part 3;part 4;")


def test_asgi_body_is_sent_and_answered() -> None:
    client = AsgiClient(Litestar([chunks, echo]))
    reply = client.post("/echo", json={"a": 1})
    client.close()
    assert (reply.status, reply.json()) == (201, {"a": 2})
