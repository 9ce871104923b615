"""Seeded identifiers for the simulation."""

from __future__ import annotations

import random

_CLEAR = ~((0xC000 << 48) | (0xF000 << 64))
_SET = (0x8000 << 48) | (4 << 76)  # the RFC 4122 variant, version 4


def uuid4_from_bits(bits: int) -> str:
    """``str(uuid.UUID(int=bits, version=4))`` for 128 random bits, built without the UUID object."""
    text = f"{bits & _CLEAR | _SET:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def uuid4_text(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, built without the UUID object."""
    return uuid4_from_bits(rng.getrandbits(128))
