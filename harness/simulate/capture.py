"""A destination that writes each delivery as a JSON line (the capture ``harness verify`` reads)."""

from __future__ import annotations

from typing import IO

import msgspec

from harness.core.clock import Clock, format_instant
from harness.core.credentials import mask_authorization
from harness.core.protocol import ABTASTY_WEBHOOK_PATH, SETTINGS_HEADER
from harness.segment import TransportResponse


class CaptureRecorder:
    """Answers 200 to every delivery and writes it to ``stream`` as one JSON line.

    Each line: ``{"at", "method", "path", "headers", "body"}``; the Authorization header and
    the settings header are masked (secrets never reach a file).
    """

    def __init__(self, stream: IO[str], clock: Clock) -> None:
        self.stream = stream
        self.clock = clock
        self.count = 0

    def post(self, url: str, headers: dict[str, str], body: bytes) -> TransportResponse:
        """Write one delivery."""
        kept = {k: v for k, v in headers.items() if k.lower() != SETTINGS_HEADER.lower()}
        if "Authorization" in kept:
            kept["Authorization"] = mask_authorization(kept["Authorization"])
        line = {
            "at": format_instant(self.clock.now()),
            "method": "POST",
            "path": ABTASTY_WEBHOOK_PATH,
            "headers": kept,
            "body": msgspec.json.decode(body),
        }
        self.stream.write(msgspec.json.encode(line).decode() + "\n")
        self.count += 1
        return TransportResponse(200, '{"status": "accepted"}')
