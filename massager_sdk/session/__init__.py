"""One connected device, in parts below the :class:`~massager_sdk.client.Device` facade.

- :mod:`.options`: :class:`ConnectOptions`, the one configuration of a session.
- :mod:`.requester`: request/response with sequence numbers, timeouts and retries;
  the session's counters.
- :mod:`.telemetry`: statuses and events to callbacks and bounded iterators.
"""

from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.requester import SEQ_MAX, SEQ_MIN, Requester, SessionStats
from massager_sdk.session.telemetry import Feed, Telemetry, TelemetryHub, TelemetryStream

__all__ = [
    "SEQ_MAX",
    "SEQ_MIN",
    "ConnectOptions",
    "Feed",
    "Requester",
    "SessionStats",
    "Telemetry",
    "TelemetryHub",
    "TelemetryStream",
]
