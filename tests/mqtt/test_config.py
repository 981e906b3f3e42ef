"""Bridge configuration: TOML files, options, and errors naming the file and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from massager_sdk.mqtt.config import (
    BridgeConfig,
    ConfigError,
    DeviceConfig,
    load_config,
    parse_broker_url,
)
from massager_sdk.mqtt.node import id_before_connecting
from massager_sdk.safety import SafetyLimits

GOOD = """
[broker]
url = "mqtt://user:s%40cret@broker.lan:1884"
client_id = "bridge-lounge"

[bridge]
id = "lounge"
base_topic = "home/massage"
discovery_prefix = "ha"
id_prefix = "lounge_"
telemetry_interval = 2

[[devices]]
id = "sofa"
name = "Sofa massager"
url = "sim://heat4"

[[devices]]
url = "sim://neck2"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bridge.toml"
    path.write_text(text)
    return path


def test_a_full_file_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    assert config.broker.host == "broker.lan"
    assert config.broker.port == 1884
    assert config.broker.username == "user"
    assert config.broker.password == "s@cret"  # percent-decoded
    assert config.client_id == "bridge-lounge"
    assert config.bridge_id == "lounge"
    assert config.topics.bridge_state == "home/massage/bridge/lounge/state"
    assert config.topics.discovery_prefix == "ha"
    assert config.telemetry_interval_s == 2.0
    assert config.devices == (
        DeviceConfig(url="sim://heat4", id="sofa", name="Sofa massager"),
        DeviceConfig(url="sim://neck2"),
    )
    # Ids derived from serials get the prefix.
    assert config.device_id(config.devices[1], "N2-000007") == "lounge_n2_000007"
    assert config.device_id(config.devices[0], "H4-000001") == "sofa"


def test_options_win_over_the_file(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, GOOD),
        broker="mqtt://other:1883",
        devices=["sim://handheld"],
        bridge_id="bedroom",
        base_topic="m",
        client_id="cid",
    )
    assert (config.broker.host, config.broker.port, config.broker.username) == ("other", 1883, None)
    assert config.bridge_id == "bedroom"
    assert config.base_topic == "m"
    assert config.client_id == "cid"
    assert config.devices[-1] == DeviceConfig(url="sim://handheld")


def test_options_alone_make_a_config() -> None:
    config = load_config(broker="mqtt://localhost", devices=["sim://"])
    assert config.broker.port == 1883
    assert config.bridge_id is None
    assert config.topics.bridge_state == "massager/bridge/state"
    assert config.client_id.startswith("massager-bridge-")


@pytest.mark.parametrize(
    ("text", "field", "says"),
    [
        ("[broker]\nurl = 3\n", "broker.url", "non-empty string"),
        ("[broker]\nurl = 'http://x'\n", "broker.url", "mqtt or mqtts"),
        ("[broker]\nurl = 'mqtt://x:99999'\n", "broker.url", "1-65535"),
        ("[broker]\nurl = 'mqtt://x'\nport = 3\n", "broker.port", "unknown field"),
        ("[broker]\nurl = 'mqtt://x'\n[bridge]\nid = 'Bad Id'\n", "bridge.id", "lower-case"),
        ("[broker]\nurl = 'mqtt://x'\n[bridge]\nid = 'bridge'\n", "bridge.id", "reserved"),
        ("[broker]\nurl = 'mqtt://x'\n[bridge]\nbase_topic = 'a/#'\n", "bridge.base_topic", "'#'"),
        (
            "[broker]\nurl = 'mqtt://x'\n[bridge]\ntelemetry_interval = 0\n",
            "bridge.telemetry_interval",
            "out of range",
        ),
        ("[broker]\nurl = 'mqtt://x'\n[bridge]\ndiscovery = 'yes'\n", "bridge.discovery", "true"),
        ("[broker]\nurl = 'mqtt://x'\n[[devices]]\nid = 'a'\n", "devices[1].url", "missing"),
        (
            "[broker]\nurl = 'mqtt://x'\n[[devices]]\nurl = 'bogus://x'\n",
            "devices[1].url",
            "accepted forms",
        ),
        (
            "[broker]\nurl = 'mqtt://x'\n[[devices]]\nurl = 'sim://'\ncolour = 'red'\n",
            "devices[1].colour",
            "accepted: health_profile, id, key, limits, name, url",
        ),
        (
            "[broker]\nurl = 'mqtt://x'\n[[devices]]\nurl = 'sim://'\nid = 'a'\n"
            "[[devices]]\nurl = 'sim://'\nid = 'a'\n",
            "devices[2].id",
            "already the id of devices[1]",
        ),
        ("[broker]\nurl = 'mqtt://x'\n[weather]\n", "weather", "unknown field"),
        (
            "[broker]\nurl = 'mqtt://x'\nca_file = '/nonexistent.pem'\n",
            "broker.ca_file",
            "mqtts",
        ),
        (
            "[broker]\nurl = 'mqtts://x'\nca_file = '/nonexistent.pem'\n",
            "broker.ca_file",
            "no such file",
        ),
    ],
)
def test_bad_files_name_the_file_and_the_field(
    tmp_path: Path, text: str, field: str, says: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(says)) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.field == field
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_a_file_that_is_not_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "[broker\nurl = ")
    with pytest.raises(ConfigError, match="not valid TOML") as info:
        load_config(path)
    assert info.value.file == str(path)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "nope.toml")


def test_no_broker_anywhere_says_how_to_give_one() -> None:
    with pytest.raises(ConfigError, match=re.escape("--broker URL or broker.url")):
        load_config(devices=["sim://"])


def test_a_bad_device_option_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"--device: .*accepted forms"):
        load_config(broker="mqtt://x", devices=["nonsense"])


@pytest.mark.parametrize(
    ("url", "host", "port", "tls", "user", "password"),
    [
        ("mqtt://localhost", "localhost", 1883, False, None, None),
        ("mqtts://broker.lan", "broker.lan", 8883, True, None, None),
        ("mqtt://u:p@10.0.0.2:1999", "10.0.0.2", 1999, False, "u", "p"),
        ("mqtt://u@h", "h", 1883, False, "u", None),
        ("MQTT://[::1]:1883", "::1", 1883, False, None, None),
    ],
)
def test_broker_urls(
    url: str, host: str, port: int, tls: bool, user: str | None, password: str | None
) -> None:
    broker = parse_broker_url(url)
    assert (broker.host, broker.port, broker.tls, broker.username, broker.password) == (
        host,
        port,
        tls,
        user,
        password,
    )


@pytest.mark.parametrize(
    "url", ["localhost", "tcp://h", "mqtt://", "mqtt://h/path", "mqtt://h?x=1", "mqtt://h:0"]
)
def test_bad_broker_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="mqtt://"):
        parse_broker_url(url)


def test_the_broker_url_masks_the_password() -> None:
    broker = parse_broker_url("mqtt://me:secret@h")
    assert broker.url() == "mqtt://me:***@h:1883"
    assert broker.url(with_password=True) == "mqtt://me:secret@h:1883"


def test_derived_ids_must_still_be_valid() -> None:
    config = BridgeConfig(broker=parse_broker_url("mqtt://h"))
    with pytest.raises(ValueError, match="derived from"):
        config.device_id(DeviceConfig("sim://"), "bridge")  # a reserved word


def test_a_device_without_serial_gets_a_stable_id_from_its_url() -> None:
    config = BridgeConfig(broker=parse_broker_url("mqtt://h"), id_prefix="home_")
    assert config.device_id(DeviceConfig("sim://tuya-neck"), "") == "home_sim_tuya_neck"
    assert config.device_id(DeviceConfig("sim://yh-ems"), " - ") == "home_sim_yh_ems"
    assert config.device_id(DeviceConfig("ble://AA:BB:CC:DD:EE:0F"), "") == "home_aabbccddee0f"
    assert config.device_id(DeviceConfig("serial:///dev/ttyUSB0"), "") == "home_serial_dev_ttyusb0"
    long_url = "tcp://" + "very-long-host-name." * 5 + "example:4000"
    derived = config.device_id(DeviceConfig(long_url), "")
    assert len(derived) <= 64 and derived == config.device_id(DeviceConfig(long_url), "")
    assert derived != config.device_id(DeviceConfig(long_url.replace("4000", "4001")), "")


def test_ids_known_before_connecting() -> None:
    """Configured ids and BLE addresses: their claims are checked before any link opens."""
    assert id_before_connecting(DeviceConfig("ble://AA:BB:CC:DD:EE:0F"), "") == "aabbccddee0f"
    assert id_before_connecting(DeviceConfig("ble://aa:bb:cc:dd:ee:0f"), "hall_") == (
        "hall_aabbccddee0f"
    )
    assert id_before_connecting(DeviceConfig("ble://Neck Pro", id="sofa"), "") == "sofa"
    # Names, ports and simulators are identified by the serial they report.
    for url in ("ble://Neck Pro", "serial:///dev/ttyUSB0", "tcp://10.0.0.5:7000", "sim://"):
        assert id_before_connecting(DeviceConfig(url), "") is None


# -- per-device safety ------------------------------------------------------------


def test_a_device_gets_its_own_profile_and_limits(tmp_path: Path) -> None:
    anna = tmp_path / "anna.toml"
    anna.write_text('acknowledged = true\ncontraindications = ["severe overwork"]\n')
    path = write(
        tmp_path,
        f"""
[broker]
url = "mqtt://x"

[[devices]]
id = "kids"
url = "sim://heat4"
health_profile = "{anna}"

[devices.limits]
heat_max_c = 40.0
auto_off_s = 600

[[devices]]
url = "sim://neck2"
""",
    )
    kids, other = load_config(path).devices
    assert kids.health_profile is not None and kids.health_profile.acknowledged
    assert [c.value for c in kids.health_profile.contraindications] == ["severe_overwork"]
    assert kids.limits == SafetyLimits(heat_max_c=40.0, auto_off_s=600)
    assert kids.connect_options() == {"health_profile": kids.health_profile, "limits": kids.limits}
    assert (other.health_profile, other.limits, other.connect_options()) == (None, None, {})


@pytest.mark.parametrize(
    ("entry", "field", "says"),
    [
        ("health_profile = '{missing}'", "devices[1].health_profile", "no health profile at"),
        (
            "health_profile = '{unacknowledged}'",
            "devices[1].health_profile",
            "massager health acknowledge",
        ),
        ("health_profile = '{invalid}'", "devices[1].health_profile", "accepted"),
        ("limits = 5", "devices[1].limits", "must be a table"),
        ("limits = {{ heat_max_c = 44.0 }}", "devices[1].limits", "less safe than the default"),
        ("limits = {{ heat = 40 }}", "devices[1].limits", "accepted limits are"),
        ("limits = {{ auto_off_s = 'soon' }}", "devices[1].limits", "must be a number"),
    ],
)
def test_bad_device_safety_settings_name_the_field(
    tmp_path: Path, entry: str, field: str, says: str
) -> None:
    (tmp_path / "unacknowledged.toml").write_text("acknowledged = false\n")
    (tmp_path / "invalid.toml").write_text("acknowledged = true\ncontraindications = ['x']\n")
    paths = {name: tmp_path / f"{name}.toml" for name in ("missing", "unacknowledged", "invalid")}
    text = f"[broker]\nurl = 'mqtt://x'\n[[devices]]\nurl = 'sim://'\n{entry.format(**paths)}\n"
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=re.escape(says)) as info:
        load_config(path)
    assert info.value.field == field
    assert str(info.value).startswith(f"{path}: {field}: ")


def test_the_example_in_the_home_assistant_guide_loads(tmp_path: Path) -> None:
    guide = Path(__file__).parents[2] / "docs" / "home-assistant.md"
    example = re.search(r"```toml\n(.*?)```", guide.read_text(), re.S)
    assert example is not None
    anna = tmp_path / "anna.toml"
    anna.write_text("acknowledged = true\n")
    text = example.group(1).replace("/etc/massager/anna.toml", str(anna))
    config = load_config(write(tmp_path, text))
    sofa, serial = config.devices
    assert sofa.id == "sofa" and sofa.health_profile is None
    assert serial.health_profile is not None and serial.limits == SafetyLimits(
        heat_max_c=40.0, auto_off_s=600
    )


def test_the_programs_folder_must_exist(tmp_path: Path) -> None:
    file = tmp_path / "bridge.toml"
    file.write_text(f'[broker]\nurl = "mqtt://h"\n[bridge]\nprograms = "{tmp_path}"\n')
    assert load_config(file).programs_dir == str(tmp_path)
    file.write_text(f'[broker]\nurl = "mqtt://h"\n[bridge]\nprograms = "{tmp_path}/nope"\n')
    with pytest.raises(ConfigError, match=r"bridge\.programs: no such folder"):
        load_config(file)


def test_a_device_entry_may_carry_its_key_which_never_shows(tmp_path: Path) -> None:
    from massager_sdk.keys import key_for

    key_hex = "00112233445566778899aabbccddeeff" * 2
    text = f'[broker]\nurl = "mqtt://x"\n[[devices]]\nurl = "sim://heat4-auth"\nkey = "{key_hex}"\n'
    config = load_config(write(tmp_path, text))
    (device,) = config.devices
    assert device.key == bytes.fromhex(key_hex)
    assert key_hex not in repr(config)
    assert "key" not in device.connect_options()
    assert key_for("ANY-SERIAL") == bytes.fromhex(key_hex)  # known to this process now


def test_a_bad_device_key_names_the_field(tmp_path: Path) -> None:
    text = '[broker]\nurl = "mqtt://x"\n[[devices]]\nurl = "sim://heat4-auth"\nkey = "abc"\n'
    with pytest.raises(ConfigError, match="64 hexadecimal digits") as info:
        load_config(write(tmp_path, text))
    assert info.value.field == "devices[1].key"
