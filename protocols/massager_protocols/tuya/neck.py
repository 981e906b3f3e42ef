"""The data points of Tuya's BLE neck-massager demo firmware (product ``gfi4tm2u``)."""

from __future__ import annotations

import enum

#: The demo's product id, advertised in the 0xA201 service data.
PRODUCT_ID = "gfi4tm2u"


class NeckDp(enum.IntEnum):
    """Data point ids."""

    LOW_BATTERY = 101  #: bool, device only: the low-battery alarm
    HEAT = 102  #: enum: 0 heat on ("strong"), 1 off
    GEAR = 103  #: enum: 0..15, the lowest gear is 0 (still running)
    MODE = 104  #: enum: 0..4 (NeckMode)
    SWITCH = 105  #: bool: the massage on (**0**, the demo's ``ON = 0``) or off (1)


class NeckMode(enum.IntEnum):
    """The demo's five modes (their pulse timing is in the spec)."""

    RELIEVE = 0  #: 5 ms pulse, 30 ms pause
    VITALITY = 1  #: 5 ms pulse, 20 ms pause
    HAMMERING = 2  #: 5 ms pulse, 40 ms pause
    SCRAPING_THERAPY = 3  #: 5 ms pulse, 50 ms pause
    INTELLIGENT = 4  #: 5 ms pulse, a random 20/30/40/50 ms pause


#: The heat data point's values.
HEAT_ON, HEAT_OFF = 0, 1
#: The switch data point's values in the demo's data point handler (its ``POWER_STATE``).
SWITCH_ON, SWITCH_OFF = 0, 1
#: Highest gear.
MAX_GEAR = 15
