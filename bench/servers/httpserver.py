"""The usual Python alternative: pytest-httpserver answering the same request."""

from __future__ import annotations

import sys
import time

from pytest_httpserver import HTTPServer

if __name__ == "__main__":
    server = HTTPServer(host="127.0.0.1", port=int(sys.argv[1]))
    server.expect_request("/segment/webhook", method="POST").respond_with_json(
        {"status": "accepted"}
    )
    server.start()
    while True:
        time.sleep(3600)
