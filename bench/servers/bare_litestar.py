"""The ceiling: a bare Litestar endpoint that parses the same JSON and answers 200."""

from __future__ import annotations

import sys
from typing import Any

import msgspec
import uvicorn
from litestar import Litestar, Request, post


@post("/segment/webhook", status_code=200)
async def webhook(request: Request[Any, Any, Any]) -> dict[str, str]:
    msgspec.json.decode(await request.body())
    return {"status": "accepted"}


if __name__ == "__main__":
    uvicorn.run(Litestar([webhook]), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
