"""A simulated Segment: synthetic users, their calls over simulated time, Segment-like delivery."""

from harness.runtime.people import SyntheticUser
from harness.simulate.population import (
    Company,
    Population,
    PopulationConfig,
    build_population,
)
from harness.simulate.random_faults import FaultConfig, FaultyTransport
from harness.simulate.streams import ClientCall, StreamConfig, VisitorSeen, generate_events

__all__ = [
    "ClientCall",
    "Company",
    "FaultConfig",
    "FaultyTransport",
    "Population",
    "PopulationConfig",
    "StreamConfig",
    "SyntheticUser",
    "VisitorSeen",
    "build_population",
    "generate_events",
]
