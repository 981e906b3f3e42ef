"""``massager bridge``: serve massagers over MQTT, with Home Assistant discovery.

:func:`add_bridge_arguments` imports only the standard library, so the main
parser can declare the verb without loading asyncio or aiomqtt.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from massager_sdk.mqtt import BridgeConfig

EXAMPLES = (
    "massager bridge --broker mqtt://localhost --device sim://heat4",
    "massager bridge --config /etc/massager/bridge.toml",
    "massager bridge --broker mqtts://user:secret@broker.lan:8883 --ca-file ca.pem "
    "--device ble://AA:BB:CC:DD:EE:FF",
)
DESCRIPTION = """
    Connect to an MQTT broker and serve each device on it: retained JSON state on
    <base>/<id>, commands on <base>/<id>/set, availability, a bridge state topic with
    a last will, and Home Assistant discovery under <discovery-prefix>/. Options
    override the config file. Runs until SIGINT or SIGTERM, then stops every device.
    docs: docs/home-assistant.md"""


def add_bridge_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``massager bridge``."""
    parser.add_argument(
        "--broker",
        metavar="URL",
        help="mqtt://[USER:PASSWORD@]HOST[:PORT] or mqtts://... (default port 1883 / 8883)",
    )
    parser.add_argument(
        "-d",
        "--device",
        metavar="URL",
        action="append",
        default=[],
        help="a device to serve (repeatable): sim://[MODEL], serial:///dev/ttyUSB0, "
        "tcp://HOST:PORT, ble://AA:BB:CC:DD:EE:FF or ble://NAME (or CHANNEL+URL: a protocol's "
        "secure channel over it, e.g. tuya+ble://...); its id comes from its serial",
    )
    parser.add_argument("-c", "--config", metavar="PATH", help="bridge config file (TOML)")
    parser.add_argument("--base-topic", metavar="TOPIC", help="topic prefix (default massager)")
    parser.add_argument(
        "--bridge-id",
        metavar="ID",
        help="this bridge's id when several share a broker: its state topic becomes "
        "<base>/bridge/<ID>/state",
    )
    parser.add_argument("--client-id", metavar="ID", help="MQTT client id")
    parser.add_argument(
        "--discovery-prefix",
        metavar="TOPIC",
        help="Home Assistant discovery prefix (default homeassistant)",
    )
    parser.add_argument(
        "--id-prefix", metavar="TEXT", help="prefix of device ids derived from serials"
    )
    parser.add_argument("--ca-file", metavar="PATH", help="CA certificates (PEM) for mqtts://")
    from massager_sdk.cli.parser import health_profile_option

    health_profile_option(parser, "your health profile file (default: yours; must be acknowledged)")


def bridge(args: argparse.Namespace) -> int:
    """Run the bridge until SIGINT or SIGTERM."""
    import asyncio

    from massager_sdk.mqtt import load_config

    config = load_config(
        args.config,
        broker=args.broker,
        devices=args.device or (),
        bridge_id=args.bridge_id,
        base_topic=args.base_topic,
        discovery_prefix=args.discovery_prefix,
        client_id=args.client_id,
        ca_file=args.ca_file,
        id_prefix=args.id_prefix,
    )
    # A service cannot ask: the health profile must be acknowledged beforehand.
    from massager_sdk.cli.device_cmd import health_profile

    profile = health_profile(args)
    return asyncio.run(_serve(config, {"health_profile": profile}))


async def _serve(config: BridgeConfig, device_options: dict[str, Any]) -> int:
    import asyncio
    import signal

    from massager_sdk.cli.exitcodes import ExitCode
    from massager_sdk.mqtt import Bridge

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[int] = []

    def stopping(sig: int) -> None:
        received.append(sig)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping, sig)
    topics = config.topics
    print(
        f"massager bridge {config.bridge_id or config.client_id}: {config.broker.url()}, "
        f"state topic {topics.bridge_state}, {len(config.devices)} device(s)",
        file=sys.stderr,
        flush=True,
    )
    if not config.devices:
        print(
            f"no devices yet: give --device URL, [[devices]] in the config, or publish "
            f'{{"url": "..."}} on {topics.request("add")}',
            file=sys.stderr,
            flush=True,
        )
    async with Bridge(config, device_options=device_options):
        await stop.wait()
    if received[0] == signal.SIGTERM:
        return 128 + signal.SIGTERM  # 143, as docs/cli.md says; the devices were stopped
    return int(ExitCode.INTERRUPTED)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m massager_sdk.cli.bridge_cmd``: the verb without the main parser."""
    parser = argparse.ArgumentParser(
        prog="massager bridge",
        description=DESCRIPTION,
        epilog="examples:\n" + "\n".join(f"  {e}" for e in EXAMPLES),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_bridge_arguments(parser)
    parser.add_argument("-v", "--verbose", action="count", default=0)
    args = parser.parse_args(argv)
    from massager_sdk.cli.errors import run_handler

    return run_handler(bridge, args)


if __name__ == "__main__":
    sys.exit(main())
