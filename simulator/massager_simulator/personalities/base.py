"""What every personality provides, and the plumbing they share."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Any, ClassVar

from massager_protocols.nmp import Event

if TYPE_CHECKING:
    from massager_simulator.device import SimulatedDevice
    from massager_simulator.link import Port
    from massager_simulator.model import ModelError


@dataclasses.dataclass(frozen=True, slots=True)
class GattProfile:
    """How a personality appears over BLE: its service, characteristics and advertisement."""

    service_uuid: str
    write_uuid: str
    notify_uuid: str
    manufacturer_data: dict[int, bytes]
    service_data: dict[str, bytes]
    service_uuids: tuple[str, ...]
    local_name: str


class Personality(abc.ABC):
    """One wire protocol spoken by a :class:`SimulatedDevice`.

    The device calls :meth:`port_bytes` with every chunk a link delivers,
    :meth:`event` for every event its firmware raises and :meth:`status` when
    its state changed or a report is due; the personality answers through
    :meth:`send` and :meth:`broadcast`.
    """

    #: The protocol's name, as in a model file's ``protocol``.
    protocol: ClassVar[str]
    #: The protocol of a model file that names none (one personality has it).
    fallback: ClassVar[bool] = False
    #: Send one more report when everything has gone off and the motors have stopped.
    reports_when_off: ClassVar[bool] = False

    def __init__(self, device: SimulatedDevice) -> None:
        self.device = device
        self.options: dict[str, Any] = dict(device.model.protocol_options)
        self._state: dict[Port, Any] = {}

    # -- called by the device ---------------------------------------------------

    @abc.abstractmethod
    def port_bytes(self, port: Port, data: bytes) -> None:
        """Bytes from a host on ``port``."""

    @abc.abstractmethod
    def event(self, now: float, event: Event) -> None:
        """The firmware raised ``event`` (already logged by the device)."""

    @abc.abstractmethod
    def status(self, now: float) -> None:
        """The state changed, or a periodic report may be due."""

    @property
    @abc.abstractmethod
    def gatt(self) -> GattProfile:
        """The BLE service and advertisement of this personality."""

    def port_closed(self, port: Port) -> None:
        """A link closed: forget its decoder and session."""
        self._state.pop(port, None)

    # -- helpers for subclasses ---------------------------------------------------

    def port_state(self, port: Port, factory: Any) -> Any:
        """Per-link state (decoder, session), made by ``factory()`` on first use."""
        state = self._state.get(port)
        if state is None:
            state = self._state[port] = factory()
        return state

    @staticmethod
    def send(port: Port, data: bytes) -> None:
        """Bytes to one host."""
        port.send(data)

    def ports(self) -> list[Port]:
        """Every open link."""
        return list(self.device._ports)

    def option(self, key: str, default: Any) -> Any:
        """A ``[protocol_options]`` value of the model, or ``default``."""
        return self.options.get(key, default)

    def error(self, text: str) -> ModelError:
        """A model error naming the model."""
        from massager_simulator.model import ModelError

        return ModelError(f"model {self.device.model.name}: protocol_options: {text}")
