"""The fake Segment's records: sources, destinations and each message's way to a destination.

Records are values: a store takes what it is given and hands out fresh copies, so a
process sharing its store with others holds nothing another process must see.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from harness.segment.delivery import AB_TASTY_DESTINATION

Stage = Literal[
    "retrying", "delivered", "failed_delivery", "filtered_at_destination", "failed_on_ingest"
]
STAGES = ("received", "failed_on_ingest", "filtered_at_destination", "failed_delivery", "delivered")
DELIVERY_STAGES = ("retrying", *STAGES[1:])
"""The stages a message can be in (``received`` counts them all)."""


@dataclass(frozen=True, slots=True)
class Source:
    """A Segment source; its write key is kept only as a digest.

    ``clock`` names the tenant clock its deliveries run on (None: the global clock).
    """

    id: str
    name: str
    write_key_digest: bytes
    write_key_last4: str
    clock: str | None = None


@dataclass(frozen=True, slots=True)
class Destination:
    """An AB Tasty destination on a source: where to post and with which API key.

    An empty ``endpoint`` means the fake AB Tasty served beside the fake Segment. The API
    key is kept whole: Segment must present it on every delivery (it is the one
    secret a store keeps usable; responses and the journal show only its last 4 characters).
    """

    id: str
    source_id: str
    type: str
    api_key: str
    endpoint: str
    name: str = AB_TASTY_DESTINATION


@dataclass(frozen=True, slots=True)
class Attempt:
    """One delivery attempt: when, what the destination answered, and what followed.

    Attributes:
        status: The HTTP status, or None when the destination did not answer (timeout).
        outcome: ``delivered``, ``retry`` (another attempt is due) or ``failed``.
        detail: The start of the answer's body, or the transport error.
        next_attempt_at: When the retry falls due, for ``retry``.
    """

    at: datetime
    status: int | None
    outcome: Literal["delivered", "retry", "failed"]
    detail: str
    next_attempt_at: datetime | None = None


@dataclass(slots=True)
class DeliveryRecord:
    """One message on its way to one destination (or stopped before it).

    ``id`` is given by the store; a record in stage ``retrying`` with ``next_attempt_at`` is
    a delivery attempt due at that time on its source's clock. ``received_at`` is when the
    Tracking API took the message; ``history`` holds every attempt made, oldest first.
    """

    source_id: str
    message_id: str | None
    type: str | None
    destination_id: str | None
    stage: Stage
    attempts: int = 0
    last_status: int | None = None
    last_body: str | None = None
    next_attempt_at: datetime | None = None
    first_attempt_at: datetime | None = None
    last_delay: timedelta | None = None
    payload: bytes = b""
    retries: int = 0
    id: int = 0
    received_at: datetime | None = None
    history: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class DeliveryPage:
    """A page of a source's deliveries, with the delivery overview's counts.

    Attributes:
        stages: The overview's counts (``received`` counts every arrival).
        retrying: Messages still being retried (in no final stage yet).
        messages: The page, newest first.
        total: How many messages match the filters.
    """

    stages: dict[str, int]
    retrying: int
    messages: list[DeliveryRecord]
    total: int
