"""The fake Segment: Tracking API ingest and cloud-mode delivery to destinations."""

from harness.segment.delivery import RetryPolicy, Transport, TransportResponse
from harness.segment.service import FakeSegment

__all__ = ["FakeSegment", "RetryPolicy", "Transport", "TransportResponse"]
