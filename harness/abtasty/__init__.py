"""The fake AB Tasty's rules, free of HTTP, YAML and network code."""

from harness.abtasty.service import AbTasty

__all__ = ["AbTasty"]
