"""Where the fake AB Tasty keeps its state: one protocol, several backends."""

from harness.store.base import Store
from harness.store.memory import MemoryStore

__all__ = ["MemoryStore", "Store"]
