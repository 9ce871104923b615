"""Seeded identifiers for the simulation."""

from __future__ import annotations

import random

UUID4_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
"""Mask clearing the variant and version bits of a 128-bit integer."""
UUID4_SET = (0x8000 << 48) | (4 << 76)
"""The RFC 4122 variant and version 4, to OR in after :data:`UUID4_CLEAR`."""


def uuid4_from_bits(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` for 128 random bits, built without the UUID object.

    The 32 hex digits come from ``int.to_bytes(...).hex()``, twice as fast as formatting the
    integer with ``:032x``.
    """
    text = (bits & UUID4_CLEAR | UUID4_SET).to_bytes(16, "big").hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def uuid4_text(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, built without the UUID object."""
    return uuid4_from_bits(rng.getrandbits(128))
