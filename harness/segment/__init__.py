"""The fake Segment: Tracking API ingest and cloud-mode delivery to destinations."""

from harness.segment.delivery import RetryPolicy, Transport, TransportResponse, is_delivered
from harness.segment.scripted_faults import HeldDeliveries, Outage, ScriptedFaults
from harness.segment.service import DeliveryRecord, FakeSegment

__all__ = [
    "DeliveryRecord",
    "FakeSegment",
    "HeldDeliveries",
    "Outage",
    "RetryPolicy",
    "ScriptedFaults",
    "Transport",
    "TransportResponse",
    "is_delivered",
]
