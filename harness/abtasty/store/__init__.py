"""Where the fake AB Tasty keeps its state: one protocol, several backends."""

from harness.abtasty.store.base import Store
from harness.abtasty.store.memory import MemoryStore
from harness.abtasty.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store"]
