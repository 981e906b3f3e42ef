"""Write ``tuya_ble.json`` from the examples below (run by hand when vectors are added).

Encryption takes a random IV per message; the vectors fix the IVs and srand so
every byte is reproducible. The JSON file is the reference.

    python -m massager_protocols.vectors.build_tuya_ble
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from massager_protocols.tuya import (
    Code,
    Credentials,
    DataPoint,
    DpType,
    Message,
    Security,
    encode_datapoints,
    encrypt,
    fragment,
    login_key,
    session_key,
)
from massager_protocols.tuya.neck import NeckDp

CREDENTIALS = Credentials(
    local_key="sim0key0neck0001", device_id="bf0sim0neck0massager01", uuid="tuya0sim0neck001"
)
SRAND = bytes.fromhex("0102030405a6")
IV = bytes(range(16))

#: Data point buffers exactly as the demo firmware's source spells them.
DEMO_BUFFERS = [
    ("low-battery alarm (alarm_buf)", "65 01 01 00", NeckDp.LOW_BATTERY, DpType.BOOL, False),
    ("gear report (gear_buf)", "67 04 01 00", NeckDp.GEAR, DpType.ENUM, 0),
    ("mode report (mode_buf)", "68 04 01 00", NeckDp.MODE, DpType.ENUM, 0),
    ("heat report, off (heat_buf)", "66 04 01 01", NeckDp.HEAT, DpType.ENUM, 1),
    ("switch report (switch_buf)", "69 01 01 00", NeckDp.SWITCH, DpType.BOOL, False),
]

DATAPOINTS = [
    ("switch on", [DataPoint(NeckDp.SWITCH, DpType.BOOL, True)]),
    (
        "switch on, mode hammering, gear 6",
        [
            DataPoint(NeckDp.SWITCH, DpType.BOOL, True),
            DataPoint(NeckDp.MODE, DpType.ENUM, 2),
            DataPoint(NeckDp.GEAR, DpType.ENUM, 6),
        ],
    ),
    ("heat on", [DataPoint(NeckDp.HEAT, DpType.ENUM, 0)]),
    ("a VALUE data point, -2", [DataPoint(9, DpType.VALUE, -2)]),
    ("a STRING data point", [DataPoint(10, DpType.STRING, "neck")]),
]


def _message(name: str, message: Message, key: bytes, security: Security) -> dict[str, Any]:
    envelope = encrypt(message, key, int(security), IV)
    return {
        "name": name,
        "fields": {
            "seq": message.seq,
            "response_to": message.response_to,
            "code": Code(message.code).name,
            "data_hex": message.data.hex(" "),
        },
        "plaintext_hex": message.plaintext().hex(" "),
        "security": security.name,
        "iv_hex": IV.hex(" "),
        "envelope_hex": envelope.hex(" "),
        "fragments_hex": [f.hex(" ") for f in fragment(envelope)],
    }


def build() -> dict[str, Any]:
    """The whole vector file."""
    login = login_key(CREDENTIALS.local_key)
    session = session_key(CREDENTIALS.local_key, SRAND)
    dps = encode_datapoints(DATAPOINTS[1][1])
    return {
        "protocol": "tuya_ble",
        "credentials": {
            "local_key": CREDENTIALS.local_key,
            "device_id": CREDENTIALS.device_id,
            "uuid": CREDENTIALS.uuid,
        },
        "srand_hex": SRAND.hex(" "),
        "keys": {
            "login_key_hex": login.hex(" "),
            "session_key_hex": session.hex(" "),
        },
        "crc16_modbus": {"input": "123456789", "value": 0x4B37},
        "demo_datapoints": [
            {
                "name": name,
                "hex": hex_,
                "id": int(dp_id),
                "type": dp_type.name,
                "value": value,
                "source": "tuya-iotos-embeded-demo-ble-smart-neck-massager",
            }
            for name, hex_, dp_id, dp_type, value in DEMO_BUFFERS
        ],
        "datapoints": [
            {
                "name": name,
                "points": [{"id": p.id, "type": p.type.name, "value": p.value} for p in points],
                "hex": encode_datapoints(points).hex(" "),
            }
            for name, points in DATAPOINTS
        ],
        "messages": [
            _message(
                "host: device info", Message(1, 0, Code.DEVICE_INFO, b""), login, Security.LOGIN_KEY
            ),
            _message(
                "host: pair",
                Message(2, 0, Code.PAIR, CREDENTIALS.pair_data()),
                session,
                Security.SESSION_KEY,
            ),
            _message(
                "device: paired", Message(2, 2, Code.PAIR, b"\x00"), session, Security.SESSION_KEY
            ),
            _message(
                "host: switch on, hammering, gear 6",
                Message(3, 0, Code.DPS, dps),
                session,
                Security.SESSION_KEY,
            ),
            _message(
                "host: report every data point",
                Message(4, 0, Code.DEVICE_STATUS, b""),
                session,
                Security.SESSION_KEY,
            ),
            _message(
                "device: data point report",
                Message(5, 0, Code.RECEIVE_DP, dps),
                session,
                Security.SESSION_KEY,
            ),
        ],
    }


def main() -> None:
    """Rewrite ``tuya_ble.json`` beside this script."""
    path = Path(__file__).with_name("tuya_ble.json")
    path.write_text(json.dumps(build(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
