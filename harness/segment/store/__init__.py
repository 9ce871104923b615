"""Where the fake Segment keeps its workspace: one protocol, several backends."""

from harness.segment.store.base import DeliveryClaim, SegmentStore
from harness.segment.store.memory import MemorySegmentStore
from harness.segment.store.sqlite import SqliteSegmentStore

__all__ = ["DeliveryClaim", "MemorySegmentStore", "SegmentStore", "SqliteSegmentStore"]
