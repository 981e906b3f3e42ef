"""The CLI on devices of every protocol: run, info and scan, as the real console script.

Programs play on the simulated "yh" and Tuya massagers mapped onto their
modes and gears; ``scan`` names each device's protocol and profile, and an
unknown one with what it advertised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, AdvertisementDataCallback, BaseBleakScanner
from massager_simulator import SimulatedDevice, serve_tcp

from massager_sdk.cli import main
from massager_sdk.cli.device_cmd import add_device_profile_argument, open_device
from massager_sdk.cli.exitcodes import ExitCode
from massager_sdk.transports import ble
from tests.cli.helpers import massager


@pytest.mark.parametrize(
    ("url", "steps"), [("sim://yh-ems", 19), ("sim://tuya-neck", 16)], ids=["yh", "tuya"]
)
def test_classic_plays_to_the_end_on_a_simulated_device(
    url: str, steps: int, profile_env: dict[str, str]
) -> None:
    # No keys for the simulated Tuya device: the simulator's own are used.
    result = massager(
        "run", "classic", "--device", url, "--speed", "400", "--json", env=profile_env
    )
    assert result.returncode == 0, result.stderr
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert reports[-1]["state"] == "completed"
    assert reports[-1]["elapsed_s"] == reports[-1]["total_s"]
    assert reports[-1]["intensities"] == [0], "the device is stopped at the end"
    levels = {r["intensities"][0] for r in reports}
    assert max(levels) > 0 and max(levels) <= steps
    assert len(levels) > 3, "the program's shape reaches the device, not one level"
    assert {r["stage"] for r in reports} >= {"preparatory", "final"}


def test_info_shows_the_profiles_capabilities() -> None:
    result = massager("info", "--device", "sim://yh-ems", "--json")
    assert result.returncode == 0, result.stderr
    caps = json.loads(result.stdout)
    assert (caps["model"], caps["protocol"], caps["intensity_steps"]) == ("YH EMS Neck", "yh", 19)
    assert [z["name"] for z in caps["zones"]] == ["neck pads"]
    assert caps["heat"] is None and caps["pattern_slots"] == 0
    plain = massager("info", "--device", "sim://yh-ems")
    assert plain.returncode == 0, plain.stderr
    for text in ("YH EMS Neck", "yh", "0..19", "neck pads", "max 15300 s"):
        assert text in plain.stdout


def test_info_shows_what_the_device_file_leaves(tmp_path: Path) -> None:
    devices = tmp_path / "devices.toml"
    devices.write_text('[devices."sim://tuya-neck"]\nmax_intensity = 8\nheat = false\n')
    result = massager(
        "info", "--device", "sim://tuya-neck", "--json", env={"MASSAGER_DEVICES": str(devices)}
    )
    assert result.returncode == 0, result.stderr
    caps = json.loads(result.stdout)
    assert (caps["protocol"], caps["intensity_steps"], caps["heat"]) == ("tuya_ble", 8, None)


def test_a_denied_device_is_refused_with_the_reason(tmp_path: Path) -> None:
    devices = tmp_path / "devices.toml"
    devices.write_text('deny = ["sim://yh-ems"]\n')
    result = massager("info", "--device", "sim://yh-ems", env={"MASSAGER_DEVICES": str(devices)})
    assert result.returncode == ExitCode.DEVICE
    assert "deny list" in result.stderr and str(devices) in result.stderr


def test_a_protocol_named_in_the_url_is_checked() -> None:
    result = massager("info", "--device", "tcp://127.0.0.1:9?protocol=modbus")
    assert result.returncode == ExitCode.USAGE
    assert "accepted: nmp1, tuya_ble, yh" in result.stderr


def test_scan_lists_each_simulated_device_with_its_protocol() -> None:
    result = massager("scan", "--simulate", "heat4,yh-ems,tuya-neck", "--timeout", "0.5", "--json")
    assert result.returncode == 0, result.stderr
    found = {d["address"]: d for d in json.loads(result.stdout)}
    assert {(d["protocol"], d["profile"], d["model"]) for d in found.values()} == {
        ("nmp1", "nmp", "NMP Heat 4"),
        ("yh", "yh-ems", "YH EMS Neck"),
        ("tuya_ble", "tuya-neck", "Tuya Neck Massager"),
    }
    yh = next(d for d in found.values() if d["protocol"] == "yh")
    assert "mfr 0x6879=01" in yh["seen"] and yh["url"] == f"ble://{yh['address']}"
    plain = massager("scan", "--simulate", "yh-ems,tuya-neck", "--timeout", "0.5")
    assert plain.returncode == 0, plain.stderr
    assert "yh-ems" in plain.stdout and "tuya_ble" in plain.stdout


class _OtherRadio(BaseBleakScanner):
    """A bleak scanner backend hearing one serial-over-BLE module that is no massager."""

    def __init__(
        self,
        detection_callback: AdvertisementDataCallback | None,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.seen_devices = {}
        self._task = asyncio.get_running_loop().create_task(self._advertise())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _advertise(self) -> None:
        adv = AdvertisementData(
            local_name="HM-10",
            manufacturer_data={0x004C: b"\x02\x15"},
            service_data={},
            service_uuids=["0000ffe0-0000-1000-8000-00805f9b34fb"],
            tx_power=None,
            rssi=-70,
            platform_data=(),
        )
        while True:
            device: BLEDevice = self.create_or_update_device(
                "D0:00:00:00:00:01", "D0:00:00:00:00:01", "HM-10", None, adv
            )
            self.call_detection_callbacks(device, adv)
            await asyncio.sleep(0.05)


def test_scan_all_lists_an_unknown_device_with_what_was_seen(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ble.use_backends(scanner=_OtherRadio)
    try:
        assert main(["scan", "--timeout", "0.3", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == [], "not a massager: left out"
        assert main(["scan", "--all", "--timeout", "0.3", "--json"]) == 0
        (unknown,) = json.loads(capsys.readouterr().out)
        assert (unknown["protocol"], unknown["profile"], unknown["model"]) == (None, None, None)
        assert unknown["seen"] == "name 'HM-10', services [ffe0], mfr 0x004C=0215"
        assert main(["scan", "--all", "--timeout", "0.3"]) == 0
        table = capsys.readouterr().out
        assert "unknown" in table and "HM-10" in table and "ffe0" in table
    finally:
        ble.use_backends()


def test_open_device_honours_a_device_profile_option() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device")
    add_device_profile_argument(parser)

    async def main() -> tuple[str, str, int]:
        sim = SimulatedDevice("yh-ems")
        await sim.start()
        server, port = await serve_tcp(sim, "127.0.0.1", 0)
        try:
            args = parser.parse_args(
                ["--device", f"tcp://127.0.0.1:{port}", "--device-profile", "yh-ems"]
            )
            async with open_device(args) as device:
                return device.protocol, device.info.model, device.info.intensity_steps
        finally:
            server.close()
            await sim.stop()

    # Nothing in a TCP URL says "yh": the option does.
    assert asyncio.run(main()) == ("yh", "YH EMS Neck", 19)
    assert parser.parse_args(["--device", "sim://"]).device_profile is None
