"""Thin Litestar apps over the domain: parse, call, serialise."""

from harness.http.abtasty import create_abtasty_app

__all__ = ["create_abtasty_app"]
