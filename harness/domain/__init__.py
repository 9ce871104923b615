"""The former name of :mod:`harness.abtasty`, kept so ``from harness.domain import AbTasty`` works."""

from harness.abtasty import AbTasty

__all__ = ["AbTasty"]
