"""The former path of :mod:`harness.testing.strategies`, which the README documents.

``import harness.strategies`` gives :mod:`harness.testing.strategies` itself, not a copy:
once this file has run, the import statement returns what ``sys.modules`` holds for the
name. The names are imported here too, for type checkers and readers.
"""

import sys

from harness.testing import strategies
from harness.testing.strategies import (
    group_messages,
    identify_messages,
    invalid_messages,
    synthetic_users,
    trait_values,
    traits,
)

__all__ = [
    "group_messages",
    "identify_messages",
    "invalid_messages",
    "synthetic_users",
    "trait_values",
    "traits",
]

sys.modules[__name__] = strategies
