"""The fake AB Tasty's rules, free of HTTP, YAML and network code."""

from harness.domain.service import AbTasty

__all__ = ["AbTasty"]
