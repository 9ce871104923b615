"""Seeded identifiers for the simulation."""

from __future__ import annotations

import random


def uuid4_text(rng: random.Random) -> str:
    """``str(uuid.UUID(int=rng.getrandbits(128), version=4))``, built without the UUID object."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xC000 << 48)) | (0x8000 << 48)  # the RFC 4122 variant
    bits = (bits & ~(0xF000 << 64)) | (4 << 76)  # version 4
    text = f"{bits:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
