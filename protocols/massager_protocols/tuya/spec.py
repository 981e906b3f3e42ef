"""Generate the byte tables of ``protocols/specs/tuya_ble.md`` from the construct definitions.

``python -m massager_protocols.tuya.spec --check`` exits non-zero when the spec
and the code have drifted; ``--write`` rewrites the tables.
"""

from __future__ import annotations

import sys

from massager_protocols.spectables import SPECS_DIR, SpecPage, code_table, struct_table
from massager_protocols.tuya.datapoints import DATAPOINT, DpType
from massager_protocols.tuya.neck import NeckDp, NeckMode
from massager_protocols.tuya.packets import ENVELOPE, FIRST_FRAGMENT, MESSAGE, Code, Security
from massager_protocols.tuya.session import DEVICE_INFO, PAIR_REQUEST


def render_blocks() -> dict[str, str]:
    """Every generated block of the Tuya BLE spec, by marker name."""
    return {
        "first-fragment": struct_table(FIRST_FRAGMENT),
        "envelope": struct_table(ENVELOPE),
        "message": struct_table(MESSAGE),
        "device-info": struct_table(DEVICE_INFO),
        "pair-request": struct_table(PAIR_REQUEST),
        "datapoint": struct_table(DATAPOINT),
        "codes": code_table(Code),
        "security": code_table(Security),
        "dp-types": code_table(DpType),
        "neck-dps": code_table(NeckDp),
        "neck-modes": code_table(NeckMode),
    }


PAGE = SpecPage(SPECS_DIR / "tuya_ble.md", render_blocks)

if __name__ == "__main__":
    sys.exit(PAGE.main(prog="python -m massager_protocols.tuya.spec"))
