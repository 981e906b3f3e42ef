"""The control layer every face uses: requests checked whole, programs, stops, one state.

    from massager_sdk.control import Controller, ControlRequest

    async with massager_sdk.connect() as device:
        control = Controller(device)
        await control.apply(ControlRequest(intensity=3, heat=40.0))
        print(control.state().to_dict())

See :mod:`massager_sdk.control.controller` for what a controller does and
:mod:`massager_sdk.control.state` for the state document's fields.
"""

from massager_sdk.control.controller import Controller
from massager_sdk.control.errors import ControlError
from massager_sdk.control.request import (
    HEAT_OFF,
    NO_PROGRAM,
    ControlRequest,
    OutputChange,
    Shape,
    parse_pattern,
    plan_outputs,
)
from massager_sdk.control.state import DeviceState, Outputs, ProgramView

__all__ = [
    "HEAT_OFF",
    "NO_PROGRAM",
    "ControlError",
    "ControlRequest",
    "Controller",
    "DeviceState",
    "OutputChange",
    "Outputs",
    "ProgramView",
    "Shape",
    "parse_pattern",
    "plan_outputs",
]
