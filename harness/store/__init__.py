"""Where the fake AB Tasty keeps its state: one protocol, several backends."""

from harness.store.base import Store
from harness.store.memory import MemoryStore
from harness.store.sqlite import SqliteStore

__all__ = ["MemoryStore", "SqliteStore", "Store"]
