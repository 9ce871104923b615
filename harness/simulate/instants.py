"""Instants of the simulation as integer milliseconds since the Unix epoch, and their ISO text.

The simulation draws every time as an integer (milliseconds), so drawing is integer
arithmetic and the text is assembled from cached parts: the date of each day, then
``HH:MM:``, ``SS`` and ``.mmmZ`` from small tables. That is several times cheaper than
``datetime.isoformat`` and gives what browser clients send (``Date.toISOString()``:
always three fraction digits and ``Z``).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache

MS_PER_SECOND = 1_000
MS_PER_MINUTE = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000


def epoch_ms(when: datetime) -> int:
    """``when`` as integer milliseconds since the Unix epoch (sub-millisecond parts dropped)."""
    if when.tzinfo is None:
        raise ValueError("a simulated instant needs a UTC offset")
    return int(when.timestamp()) * MS_PER_SECOND + when.microsecond // 1_000


def instant(ms: int) -> datetime:
    """The UTC datetime of ``ms``, exactly (seconds and milliseconds kept apart, no float)."""
    seconds, milliseconds = divmod(ms, MS_PER_SECOND)
    when = datetime.fromtimestamp(seconds, UTC)
    return when.replace(microsecond=milliseconds * 1_000) if milliseconds else when


@cache
def minutes_of_day() -> tuple[str, ...]:
    """``HH:MM:`` of each minute of a day."""
    return tuple(f"{hour:02d}:{minute:02d}:" for hour in range(24) for minute in range(60))


SECONDS = tuple(f"{second:02d}" for second in range(60))
"""``SS`` of each second of a minute."""
MILLISECONDS = tuple(f".{ms:03d}Z" for ms in range(1_000))
"""``.mmmZ`` of each millisecond of a second: with :data:`SECONDS`, small enough to stay in
the processor's cache (one 60,000-entry ``SS.mmmZ`` table cost a cache miss a look-up)."""


class IsoText:
    """Formats instants (integer milliseconds) as ``YYYY-MM-DDTHH:MM:SS.mmmZ``, memoising dates.

    One per generator run: the date cache grows by one short string per distinct day.
    :attr:`text` is the formatter as a plain function (the cheapest call in the hot loops).
    """

    __slots__ = ("days", "text")

    def __init__(self) -> None:
        self.days: dict[int, str] = {}
        """Day since the epoch -> ``YYYY-MM-DDT``, filled by :meth:`date`."""
        days, date = self.days, self.date
        minutes, seconds, milliseconds = minutes_of_day(), SECONDS, MILLISECONDS

        def text(ms: int) -> str:
            day, in_day = divmod(ms, MS_PER_DAY)
            minute, in_minute = divmod(in_day, MS_PER_MINUTE)
            second, millisecond = divmod(in_minute, MS_PER_SECOND)
            date_text = days.get(day) or date(day)
            return f"{date_text}{minutes[minute]}{seconds[second]}{milliseconds[millisecond]}"

        self.text = text

    def date(self, day: int) -> str:
        """``YYYY-MM-DDT`` of the ``day``-th day since the epoch."""
        text = self.days.get(day)
        if text is None:
            when = instant(day * MS_PER_DAY)
            text = self.days[day] = f"{when.year:04d}-{when.month:02d}-{when.day:02d}T"
        return text

    def __call__(self, ms: int) -> str:
        """The text of ``ms``, with milliseconds."""
        return self.text(ms)

    def to_minute(self, ms: int) -> str:
        """The text of ``ms`` to the minute, ``YYYY-MM-DDTHH:MM:00Z`` (a sign-up date, say)."""
        day, in_day = divmod(ms, MS_PER_DAY)
        return self.date(day) + minutes_of_day()[in_day // MS_PER_MINUTE] + "00Z"


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while building many small containers.

    The generators allocate a few dicts and objects per message and make no reference
    cycles, but every allocation counts towards the collector's thresholds: with hundreds
    of thousands alive, its full passes took half the generation time. Reference counting
    still frees everything; the collector is resumed (if it was on) on the way out.

    What was built is handed over as old objects: the allocations still count towards the
    youngest generation's threshold while paused, so the first allocation after resuming
    would start a young collection that walks every object built here (a quarter of the
    population's time, a sixth of the stream's) only to promote them all, as they are
    alive. ``gc.freeze()`` then ``gc.unfreeze()`` moves every tracked object to the oldest
    generation in constant time and resets the young count: they are examined by the next
    full collection, as they would have been after surviving two young ones. Skipped when
    the process has frozen objects of its own (``unfreeze`` would thaw them too).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():
                gc.freeze()
                gc.unfreeze()
            gc.enable()
