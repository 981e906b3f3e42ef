"""One connected device, in parts below the :class:`~massager_sdk.client.Device` facade.

- :mod:`.options`: :class:`ConnectOptions`, the one configuration of a session.
- :mod:`.plan`: the output plan, sans-I/O: wanted and acknowledged outputs, ramp
  and gap in, the next command or the time to wake out.
- :mod:`.slots`: which pattern sits in which device slot (least recently used out).
- :mod:`.core`: the state the parts below share.
- :mod:`.link`: the link supervisor: handshake, requests, loss, resync, reconnect.
- :mod:`.engine`: the one task per device that glues plan, requester and link.
- :mod:`.outputs`: the output calls up to the plan: arguments, protocol and
  safety policy checked, the wanted state recorded.
- :mod:`.signals`: SIGINT and SIGTERM as a context manager.
- :mod:`.requester`: request/response with sequence numbers, timeouts and retries;
  the session's counters.
- :mod:`.telemetry`: statuses and events to callbacks and bounded iterators.

Imports go one way: options, plan, slots, requester and telemetry import none of
the others' modules above them; core imports those; link and outputs import
core; engine imports link; :mod:`massager_sdk.client` imports them all.
"""

from massager_sdk.session.options import ConnectOptions
from massager_sdk.session.plan import OutputState, ZoneOutput
from massager_sdk.session.requester import SEQ_MAX, SEQ_MIN, Requester, SessionStats
from massager_sdk.session.telemetry import Feed, Telemetry, TelemetryHub, TelemetryStream

__all__ = [
    "SEQ_MAX",
    "SEQ_MIN",
    "ConnectOptions",
    "Feed",
    "OutputState",
    "Requester",
    "SessionStats",
    "Telemetry",
    "TelemetryHub",
    "TelemetryStream",
    "ZoneOutput",
]
