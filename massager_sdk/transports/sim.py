"""``sim://[MODEL][?test_mode=true]``: a simulated massager in this process (the default device).

Without a ``simulator=`` option the transport starts its own
:class:`massager_simulator.SimulatedDevice` of the named model (default
``heat4``) on the running event loop, and powers it off when closed. Pass
``simulator=`` to talk to a device a test or an application set up itself
(fault injection, a fleet).

The transport knows the simulated model, so it tells the client which wire
protocol the device speaks (:meth:`SimTransport.identify`) and the model's
protocol settings, among them any credentials the simulated device was given:
a simulated device that needs keys connects without the user typing them.
``?test_mode=true`` builds the device for test: it offers NMP/1's test mode
(spec section 12), which a production device never does.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, ClassVar

from massager_protocols.nmp import Feature
from massager_simulator import DEFAULT_MODEL, LinkEnd, SimulatedDevice, list_models, load_model
from massager_simulator.testmode import offering

from massager_sdk.errors import ConnectionFailed
from massager_sdk.transports import Advertisement, LinkIdentity
from massager_sdk.transports.base import Transport, bad_url, check_options


class SimTransport(Transport):
    """An in-process link to a simulated device."""

    scheme: ClassVar[str] = "sim"
    url_forms: ClassVar[tuple[str, ...]] = ("sim://[MODEL]", "sim://[MODEL]?test_mode=true")

    def __init__(
        self,
        model: str | None = None,
        *,
        simulator: SimulatedDevice | None = None,
        mtu: int | None = None,
        min_gap_s: float | None = None,
        test_mode: bool = False,
    ) -> None:
        super().__init__(min_gap_s=min_gap_s)
        offers = simulator is not None and simulator.info.features & Feature.TEST_MODE
        if test_mode and simulator is not None and not offers:
            raise ValueError(
                "test_mode=true asks for a device built for test, but the simulator given does "
                "not offer test mode (its model option test_mode is off)"
            )
        self._test_mode = test_mode
        if simulator is not None and model is not None and simulator.model.name != model:
            raise ValueError(
                f"sim://{model} names model {model!r} but the simulator given runs "
                f"{simulator.model.name!r}"
            )
        if mtu is not None and not (isinstance(mtu, int) and mtu >= 8):
            raise ValueError(f"mtu must be an integer of at least 8 bytes, got {mtu!r}")
        self.model = simulator.model.name if simulator is not None else model or DEFAULT_MODEL
        self._simulator = simulator
        self._owned = simulator is None
        self._link_mtu = mtu
        self._link: LinkEnd | None = None
        self._opened_once = False

    @classmethod
    def from_url(cls, text: str, url: urllib.parse.SplitResult, **options: Any) -> SimTransport:
        """``sim://`` or ``sim://MODEL``; options ``simulator``, ``mtu`` and ``min_gap_s``."""
        check_options(cls, text, options, {"simulator", "mtu", "min_gap_s"})
        forms = (*cls.url_forms, f"MODEL one of {', '.join(list_models())}")
        if url.path not in ("", "/") or url.fragment:
            raise bad_url(text, "a sim URL has only a model name and test_mode", forms)
        model = urllib.parse.unquote(url.netloc) or None
        if model is not None and model not in list_models():
            raise bad_url(text, f"there is no simulated model {model!r}", forms)
        test_mode = test_mode_query(url.query)
        if test_mode is None:
            raise bad_url(text, f"bad query {url.query!r}", forms)
        return cls(model, test_mode=test_mode, **options)

    @property
    def simulator(self) -> SimulatedDevice | None:
        """The simulated device (``None`` until the first connect when the transport owns it)."""
        return self._simulator

    @property
    def description(self) -> str:
        """``sim://MODEL``."""
        return f"sim://{self.model}"

    async def identify(self) -> LinkIdentity:
        """The simulated model's protocol and name, the settings it was given, and its
        BLE advertisement (matched against the device profiles as a scan's would be)."""
        if self._simulator is None:
            self._simulator = self._new_device()  # started when opened
        device = self._simulator
        model = device.model
        # The protocol takes what it needs (its credentials) and ignores the rest.
        options = dict(model.protocol_options)
        gatt = device.personality.gatt
        return LinkIdentity(
            protocol=model.protocol,
            model=model.model,
            keys=(self.description, self.model),
            options=options,
            advertisement=Advertisement(
                gatt.local_name,
                tuple(gatt.service_uuids),
                dict(gatt.manufacturer_data),
                dict(gatt.service_data),
            ),
        )

    @property
    def mtu(self) -> int:
        """The in-process link's MTU (4096 when it is a plain stream)."""
        return self._link_mtu or 4096

    def _new_device(self) -> SimulatedDevice:
        if not self._test_mode:
            return SimulatedDevice(self.model)
        return SimulatedDevice(offering(load_model(self.model)))

    async def _open(self) -> None:
        if self._simulator is None:
            self._simulator = self._new_device()
        simulator = self._simulator
        if not simulator.running:
            if self._opened_once and not self._owned:
                # Someone powered it off: as with hardware, there is nothing to connect to.
                raise ConnectionFailed(f"the simulated device on {self.description} is off")
            await simulator.start()
        self._opened_once = True
        link = simulator.connect(mtu=self._link_mtu)
        self._link = link
        self._start_reader(link.read)

    async def _close(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            link.close()

    async def _write_chunk(self, chunk: bytes) -> None:
        link = self._link
        if link is None:
            raise ConnectionError(f"{self.description} is not connected")
        await link.write(chunk)

    async def close(self) -> None:
        """Close the link, and power off the simulator this transport started."""
        await self.disconnect()
        if self._owned and self._simulator is not None:
            await self._simulator.stop()


def test_mode_query(query: str) -> bool | None:
    """A sim URL's query: ``test_mode=true`` (or ``false``, or none); ``None`` when it is
    anything else."""
    if not query:
        return False
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "test_mode":
        return None
    return {"true": True, "1": True, "false": False, "0": False}.get(pairs[0][1].lower())
