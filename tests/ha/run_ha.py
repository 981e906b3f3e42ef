"""The bridge against a real Home Assistant: ``make test-ha`` (optional and heavy).

Installs a pinned Home Assistant in its own virtual environment (on a Python it
supports, found on this machine; Python itself is never downloaded), starts it
on a private configuration, onboards it through its REST API, adds the MQTT
integration through its config flow, and then checks, with the bridge as a
process and simulated devices:

1. discovery: every expected entity appears, available, with the Program select
   showing an option (never ``unknown``); per-zone numbers are disabled by
   default; a device without battery or temperature readings has no such sensors;
   per-entity configs of an older bridge are migrated (the entity keeps its id);
2. a service call reaches the simulator (and a refusal reaches the event and the
   "last refusal" sensor);
3. availability after the bridge is killed (SIGKILL) and restarted while the
   device is out of reach: unavailable until the device is taken again;
4. removing a device removes its entities, with no error in Home Assistant's log.

Where it cannot run (no Python 3.13, no network to install, no broker) it says
why and exits 0 with ``SKIPPED``; a failed check exits 1.

    python -m tests.ha.run_ha [--version 2025.4.4] [--venv DIR] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import aiomqtt
from massager_simulator import SimulatedDevice
from massager_simulator.tcp import serve_tcp

from tests.mqtt.broker import BrokerProcess, find_mosquitto, free_port

HA_VERSION = "2025.4.4"
#: Home Assistant 2025.2 and later need Python 3.13.
HA_PYTHON = (3, 13)
#: What the MQTT integration needs, pinned as Home Assistant 2025.4 pins it.
EXTRA = ("paho-mqtt==2.1.0",)
ROOT = Path(__file__).resolve().parents[2]
MASSAGER = Path(sys.executable).with_name("massager")
BASE = "massager"
BRIDGE_ID = "ha"


class Skip(Exception):
    """The check cannot run here; the message says why."""


def skip(reason: str) -> NoReturn:
    raise Skip(reason)


# -- Home Assistant: install, start, talk to ----------------------------------------------


def python_version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print(sys.version_info[0], sys.version_info[1])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.split()
    except (OSError, subprocess.SubprocessError):
        return None
    return int(out[0]), int(out[1])


def find_python() -> str:
    """An interpreter Home Assistant supports: $HA_PYTHON, python3.13 on PATH, or pyenv's."""
    candidates = [os.environ.get("HA_PYTHON", ""), shutil.which("python3.13") or ""]
    for root in (Path.home() / ".pyenv", Path("/root/.pyenv")):
        candidates += sorted(glob.glob(str(root / "versions/3.1[3-9]*/bin/python")), reverse=True)
    for python in filter(None, candidates):
        version = python_version(python)
        if version is not None and version >= HA_PYTHON:
            return python
    skip(
        f"Home Assistant {HA_VERSION} needs Python {HA_PYTHON[0]}.{HA_PYTHON[1]}+, and none was "
        "found (set HA_PYTHON, put python3.13 on PATH, or install one with pyenv)"
    )


def ensure_home_assistant(venv: Path, version: str) -> Path:
    """``hass`` of Home Assistant ``version`` in ``venv``, installed there if needed."""
    hass = venv / "bin" / "hass"
    python = venv / "bin" / "python"
    if hass.exists():
        check = subprocess.run(
            [str(python), "-c", "from homeassistant.const import __version__; print(__version__)"],
            capture_output=True,
            text=True,
        )
        if check.returncode == 0 and check.stdout.strip() == version:
            return hass
    base = find_python()
    print(f"test-ha: installing Home Assistant {version} in {venv} (with {base}); this is long")
    subprocess.run([base, "-m", "venv", str(venv)], check=True)
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", f"homeassistant=={version}", *EXTRA],
        capture_output=True,
        text=True,
    )
    if install.returncode != 0:
        last = (install.stderr.strip().splitlines() or ["no output"])[-1]
        skip(f"could not install homeassistant=={version} from the package index: {last}")
    return hass


CONFIGURATION = """\
homeassistant:
  name: massager test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  language: en
http:
  server_host: 127.0.0.1
  server_port: {port}
api:
config:
onboarding:
logger:
  default: info
"""


class HomeAssistant:
    """A Home Assistant process on a private configuration, and its REST API."""

    def __init__(self, hass: Path, config_dir: Path) -> None:
        self.hass = hass
        self.config_dir = config_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = ""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.config_dir / "home-assistant.log"

    def start(self) -> None:
        self.config_dir.mkdir(parents=True, exist_ok=True)
        (self.config_dir / "configuration.yaml").write_text(CONFIGURATION.format(port=self.port))
        out = (self.config_dir / "stdout.txt").open("wb")
        self.proc = subprocess.Popen(
            [str(self.hass), "-c", str(self.config_dir), "--log-file", str(self.log)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                tail = self.log.read_text()[-2000:] if self.log.exists() else ""
                raise AssertionError(f"Home Assistant exited ({self.proc.returncode}): {tail}")
            with contextlib.suppress(OSError):
                status, _ = self.request("GET", "/api/onboarding")
                if status == 200:
                    return
            time.sleep(1)
        raise AssertionError("Home Assistant did not answer within 600 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def request(
        self, method: str, path: str, body: Any = None, *, form: bool = False
    ) -> tuple[int, Any]:
        headers = {}
        data = None
        if body is not None:
            if form:
                data = urllib.parse.urlencode(body).encode()
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                raw = resp.read()
                return resp.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            raw = exc.read()
            try:
                return exc.code, json.loads(raw)
            except ValueError:
                return exc.code, raw.decode("utf-8", "replace")

    def ok(self, method: str, path: str, body: Any = None, *, form: bool = False) -> Any:
        status, data = self.request(method, path, body, form=form)
        if status >= 300:
            raise AssertionError(f"{method} {path}: HTTP {status}: {data}")
        return data

    def onboard(self) -> None:
        """Create the owner, log in, and finish the onboarding steps, all through REST."""
        client_id = f"{self.url}/"
        user = self.ok(
            "POST",
            "/api/onboarding/users",
            {
                "client_id": client_id,
                "name": "Test",
                "username": "test",
                "password": "massager-test-password",
                "language": "en",
            },
        )
        token = self.ok(
            "POST",
            "/auth/token",
            {"grant_type": "authorization_code", "code": user["auth_code"], "client_id": client_id},
            form=True,
        )
        self.token = token["access_token"]
        self.ok("POST", "/api/onboarding/core_config", {})
        self.ok("POST", "/api/onboarding/analytics", {})
        self.ok(
            "POST",
            "/api/onboarding/integration",
            {"client_id": client_id, "redirect_uri": f"{client_id}?auth_callback=1"},
        )

    def add_mqtt(self, host: str, port: int) -> None:
        """The MQTT integration, through its config flow (as the UI adds it)."""
        flow = self.ok("POST", "/api/config/config_entries/flow", {"handler": "mqtt"})
        assert flow.get("step_id") == "broker", flow
        done = self.ok(
            "POST",
            f"/api/config/config_entries/flow/{flow['flow_id']}",
            {"broker": host, "port": port},
        )
        assert done.get("type") == "create_entry", done

    def states(self) -> dict[str, dict[str, Any]]:
        """Every entity's state, by friendly name."""
        out = {}
        for entry in self.ok("GET", "/api/states"):
            name = entry.get("attributes", {}).get("friendly_name")
            if name:
                out[name] = entry
        return out

    def call(self, domain: str, service: str, data: dict[str, Any]) -> None:
        self.ok("POST", f"/api/services/{domain}/{service}", data)

    def log_lines(self, level: str) -> list[str]:
        return [line for line in self.log.read_text().splitlines() if f" {level} " in line]


# -- the bridge as a process ----------------------------------------------------------------


BRIDGE_TOML = """\
[broker]
url = "mqtt://127.0.0.1:{port}"

[bridge]
id = "{bridge_id}"
base_topic = "{base}"

[[devices]]
id = "sofa"
name = "Sofa"
url = "tcp://127.0.0.1:{sim_port}"

[[devices]]
id = "desk"
name = "Desk"
url = "sim://neck2"

[[devices]]
name = "Tuya"
url = "sim://tuya-neck"
"""


@contextlib.contextmanager
def bridge_process(config: Path, profile: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "MASSAGER_HEALTH_PROFILE": str(profile)}
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [str(MASSAGER), "-v", "bridge", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)


# -- the checks ----------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def check(self, name: str, ok: bool, detail: str = "") -> None:
        print(f"test-ha: {'PASS' if ok else 'FAIL'}: {name}{f' ({detail})' if detail else ''}")
        if not ok:
            self.failed.append(name)


async def until(what: str, predicate: Callable[[], bool], within: float) -> float:
    """Seconds until ``predicate`` holds; ``AssertionError`` naming ``what`` if it never does."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > within:
            raise AssertionError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.1)
    return time.monotonic() - start


SOFA = (
    "Sofa Power",
    "Sofa Intensity",
    "Sofa Program",
    "Sofa Heat",
    "Sofa Pause program",
    "Sofa Resume program",
    "Sofa Skip program",
    "Sofa Battery",
    "Sofa Temperature",
    "Sofa Remaining time",
    "Sofa Session time left",
    "Sofa Thermal dose",
    "Sofa Status",
    "Sofa Last refusal",
    "Sofa Refusal",
)


async def scenario(ha: HomeAssistant, broker: BrokerProcess, work: Path, checks: Checks) -> None:
    sim = SimulatedDevice("heat4")
    server, sim_port = await serve_tcp(sim)
    profile = work / "profile.toml"
    profile.write_text("acknowledged = true\n")
    config = work / "bridge.toml"
    config.write_text(
        BRIDGE_TOML.format(port=broker.port, bridge_id=BRIDGE_ID, base=BASE, sim_port=sim_port)
    )
    bridge_log = work / "bridge.log"
    state_topic = f"{BASE}/bridge/{BRIDGE_ID}/state"
    async with aiomqtt.Client("127.0.0.1", broker.port, identifier="test-ha") as mqtt:
        # An older bridge's per-entity config: Home Assistant knows the entity first.
        old_topic = "homeassistant/switch/massager_sofa/power/config"
        old = {
            "name": "Power",
            "unique_id": "massager_sofa_power",
            "command_topic": f"{BASE}/sofa/set/state",
            "state_topic": f"{BASE}/sofa",
            "value_template": "{{ value_json.state }}",
            "device": {"identifiers": ["massager_sofa"], "name": "Sofa"},
        }
        await mqtt.publish(old_topic, json.dumps(old), qos=1, retain=True)
        await until("the old per-entity switch", lambda: "Sofa Power" in ha.states(), 60)
        old_id = ha.states()["Sofa Power"]["entity_id"]

        with bridge_process(config, profile, bridge_log) as bridge:
            # 1. discovery
            took = await until(
                "every Sofa entity available",
                lambda: all(
                    ha.states().get(n, {}).get("state", "unavailable") != "unavailable"
                    for n in SOFA
                ),
                90,
            )
            states = ha.states()
            checks.check("discovery: every entity appears, available", True, f"{took:.1f} s")
            checks.check(
                "migration: the old switch kept its entity id",
                states["Sofa Power"]["entity_id"] == old_id,
                f"{old_id} -> {states['Sofa Power']['entity_id']}",
            )
            program = states["Sofa Program"]["state"]
            checks.check("the Program select shows an option", program == "(no program)", program)
            checks.check(
                "per-zone intensities are disabled by default",
                not [n for n in states if n.startswith("Sofa Intensity ")],
            )
            await until("the Tuya device", lambda: "Tuya Power" in ha.states(), 60)
            tuya = [n for n in ha.states() if n.startswith("Tuya ")]
            checks.check(
                "a device that reports no battery nor temperature has no such sensors",
                not {"Tuya Battery", "Tuya Temperature"} & set(tuya),
                ", ".join(sorted(tuya)),
            )

            # 2. a service call reaches the simulator; a refusal reaches Home Assistant
            intensity = states["Sofa Intensity"]["entity_id"]
            start = time.monotonic()
            ha.call("number", "set_value", {"entity_id": intensity, "value": 3})
            await until("the simulator at 3", lambda: sim.commanded == (3, 3, 3, 3), 20)
            checks.check(
                "a service call reaches the simulator",
                True,
                f"{1000 * (time.monotonic() - start):.0f} ms to the device, ramp included",
            )
            ha.call("button", "press", {"entity_id": states["Sofa Pause program"]["entity_id"]})
            await until(
                "the last refusal",
                lambda: "no program" in ha.states()["Sofa Last refusal"]["state"],
                10,
            )
            event = ha.states()["Sofa Refusal"]
            checks.check(
                "a refusal reaches the event and the last refusal sensor",
                event["attributes"].get("event_type") == "no_program",
                str(event["attributes"].get("event_type")),
            )

            # 3. availability after a SIGKILL, with the device out of reach meanwhile
            bridge.kill()
            bridge.wait(10)
            await until(
                "Sofa unavailable after the kill",
                lambda: ha.states()["Sofa Power"]["state"] == "unavailable",
                15,
            )
            server.close()
            await server.wait_closed()
        await asyncio.sleep(1)

        seen: list[str] = []

        async def bridge_online() -> None:
            await mqtt.subscribe(state_topic, qos=1)
            async for message in mqtt.messages:
                if message.topic.matches(state_topic) and message.payload == b"online":
                    seen.append("online")
                    return

        waiter = asyncio.create_task(bridge_online())
        with bridge_process(config, profile, bridge_log):
            await asyncio.wait_for(waiter, 60)
            await until("Desk available", lambda: _available(ha, "Desk Power"), 60)
            lied = False
            end = time.monotonic() + 5
            while time.monotonic() < end:
                lied = lied or _available(ha, "Sofa Power")
                await asyncio.sleep(0.2)
            checks.check(
                "after a restart, an unreachable device stays unavailable", bool(seen) and not lied
            )
            server, _ = await serve_tcp(sim, port=sim_port)
            back = await until("Sofa available again", lambda: _available(ha, "Sofa Power"), 90)
            checks.check("it is available once taken again", True, f"{back:.1f} s")
            ha.call("number", "set_value", {"entity_id": intensity, "value": 2})
            await until("the simulator at 2", lambda: sim.commanded == (2, 2, 2, 2), 20)
            checks.check("commands work again", True)

            # 4. removal
            await mqtt.publish(
                f"{BASE}/bridge/{BRIDGE_ID}/request/remove", json.dumps({"id": "desk"}), qos=1
            )
            await until(
                "Desk entities gone",
                lambda: not [n for n in ha.states() if n.startswith("Desk ")],
                30,
            )
            await asyncio.sleep(3)
            checks.check("removing a device removes its entities", True)
        server.close()
    # Onboarding sets up default integrations (a radio browser, a camera helper...)
    # that log errors of their own on a machine without network or ffmpeg: only
    # what concerns MQTT, templates or the massagers counts.
    ours = ("mqtt", "template", "value_json", "massager")
    errors = ha.log_lines("ERROR")
    relevant = [e for e in errors if any(word in e.lower() for word in ours)]
    for other in errors:
        if other not in relevant:
            print(f"test-ha: note: unrelated error in Home Assistant's log: {other[:200]}")
    checks.check(
        "no MQTT or template ERROR in Home Assistant's log", not relevant, "; ".join(relevant[:5])
    )
    # Home Assistant clears the retained config of a device it removed itself, and then
    # warns that the (now empty) device config has nothing left to clean up.
    own = "No device components to cleanup"
    warnings = [w for w in ha.log_lines("WARNING") if "mqtt" in w.lower() and own not in w]
    checks.check("no MQTT warning in Home Assistant's log", not warnings, "; ".join(warnings[:5]))


def _available(ha: HomeAssistant, name: str) -> bool:
    return ha.states().get(name, {}).get("state", "unavailable") not in ("unavailable", "unknown")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.ha.run_ha", description=__doc__)
    parser.add_argument("--version", default=HA_VERSION, help="Home Assistant version to pin")
    parser.add_argument(
        "--venv",
        type=Path,
        default=Path.home() / ".cache" / "massager-sdk" / f"ha-{HA_VERSION}",
        help="its virtual environment (kept between runs)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="massager-test-ha-"))
    checks = Checks()
    ha: HomeAssistant | None = None
    broker: BrokerProcess | None = None
    try:
        hass = ensure_home_assistant(args.venv, args.version)
        if find_mosquitto() is None:
            skip("no mosquitto broker (run `make broker`)")
        (work / "broker").mkdir()
        broker = BrokerProcess(work / "broker")
        broker.start()
        ha = HomeAssistant(hass, work / "ha")
        started = time.monotonic()
        ha.start()
        print(f"test-ha: Home Assistant {args.version} up in {time.monotonic() - started:.0f} s")
        ha.onboard()
        ha.add_mqtt("127.0.0.1", broker.port)
        print("test-ha: onboarded through the REST API; MQTT added through its config flow")
        asyncio.run(scenario(ha, broker, work, checks))
    except Skip as exc:
        print(f"test-ha: SKIPPED: {exc}")
        return 0
    except AssertionError as exc:
        checks.check("the scenario ran to its end", False, str(exc))
    finally:
        if ha is not None:
            ha.stop()
        if broker is not None:
            broker.stop()
        if args.keep or checks.failed:
            print(f"test-ha: logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    passed = "all checks passed" if not checks.failed else f"{len(checks.failed)} failed"
    print(f"test-ha: {passed}")
    return 1 if checks.failed else 0


if __name__ == "__main__":
    sys.exit(main())
