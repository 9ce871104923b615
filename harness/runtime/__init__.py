"""Both fakes wired together: the stack, transports, the in-process ASGI client, the server.

Import the module you need (``harness.runtime.stack``, ``harness.runtime.server``, ...): this
package imports nothing itself, so a light caller never pays for Litestar or uvicorn.
"""
