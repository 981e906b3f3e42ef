"""Code size and RAM of NMP/1's C wire layer and device skeleton at ``-Os``.

Each object is compiled with the system C compiler at ``-Os`` and measured
with size(1): text (code and constant data), data and bss. RAM is what the
structs need (``sizeof``, compiled and printed by a probe program) plus the
deepest stack frame (``-fstack-usage``). The figures are for the build
machine's architecture; a Thumb-2 build for a Cortex-M is usually smaller.

Targets: the wire layer (CRC, receiver, framing and every codec) in 8 KiB of
code, and a receiver in 300 bytes of RAM.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

from benchmarks.harness import Report, Target

C_DIR = Path(__file__).resolve().parent.parent / "protocols" / "c"
EXAMPLES = C_DIR / "examples"
FLAGS = ["-std=c99", "-Os", "-Wall", "-Wextra", "-Werror", "-Wconversion", "-pedantic"]
OBJECTS = {
    "nmp1.o (CRC, receiver, framing)": C_DIR / "nmp1.c",
    "nmp1_gen.o (every message's codec)": C_DIR / "nmp1_gen.c",
    "nmp1_device.o (device skeleton)": EXAMPLES / "nmp1_device.c",
}
_PROBE = """
#include <stdio.h>
#include "nmp1_device.h"
int main(void)
{
    printf("%u %u %u %u %u\\n", (unsigned)sizeof(nmp1_rx_t), (unsigned)sizeof(nmp1_device_t),
           (unsigned)sizeof(nmp1_info_t), (unsigned)sizeof(nmp1_upload_pattern_t),
           (unsigned)sizeof(nmp1_message_t));
    return 0;
}
"""


def _compiler() -> str | None:
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and (path := shutil.which(name)):
            return path
    return None


def _size(obj: Path) -> tuple[int, int, int]:
    out = subprocess.run(["size", str(obj)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(v) for v in out.splitlines()[1].split()[:3])
    return text, data, bss


def _deepest_frame(su_files: list[Path]) -> tuple[int, str]:
    deepest = (0, "")
    for su in su_files:
        for line in su.read_text().splitlines():
            where, size, _kind = line.rsplit("\t", 2)
            deepest = max(deepest, (int(size), where.rsplit(":", 1)[-1]))
    return deepest


def run() -> Report:
    """Compile, measure, report."""
    cc = _compiler()
    command = "python -m benchmarks csize"
    if cc is None or shutil.which("size") is None:
        return Report(
            "C wire layer: code size and RAM",
            command,
            [],
            [],
            notes="Not measured: no C compiler or no size(1) on this machine.",
        )
    version = subprocess.run([cc, "--version"], capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        table = []
        sizes: dict[str, tuple[int, int, int]] = {}
        for label, source in OBJECTS.items():
            obj = work / source.with_suffix(".o").name
            subprocess.run(
                [cc, *FLAGS, "-fstack-usage", f"-I{C_DIR}", "-c", str(source), "-o", str(obj)],
                check=True,
                cwd=work,
            )
            sizes[label] = text, data, bss = _size(obj)
            table.append(
                {"item": label, "text": str(text), "data": str(data), "bss": str(bss), "RAM": ""}
            )
        frame, function = _deepest_frame(sorted(work.glob("*.su")))
        probe = work / "probe.c"
        probe.write_text(_PROBE)
        subprocess.run(
            [cc, *FLAGS, f"-I{C_DIR}", f"-I{EXAMPLES}", str(probe), "-o", str(work / "probe")],
            check=True,
        )
        rx, device, info, upload, message = (
            int(v)
            for v in subprocess.run(
                [str(work / "probe")], capture_output=True, text=True, check=True
            ).stdout.split()
        )
    wire_text = sum(sizes[k][0] for k in list(OBJECTS)[:2])
    ram = {
        "nmp1_rx_t: one receiver (static)": rx,
        "nmp1_device_t: the whole device state (static)": device,
        "nmp1_upload_pattern_t (stack, while decoding)": upload,
        "nmp1_info_t: the device description (const, may live in flash)": info,
        "nmp1_message_t: the union (a host's stack)": message,
        f"deepest stack frame ({function})": frame,
    }
    table += [{"item": k, "text": "", "data": "", "bss": "", "RAM": str(v)} for k, v in ram.items()]
    notes = (
        f"Compiler: {version.splitlines()[0] if version else cc}, for {platform.machine()}, "
        f"flags `{' '.join(FLAGS)}` (JSON rendering off). The device state holds the "
        "receiver, four pattern slots of 16 steps and a 262-byte transmit buffer; lower "
        "`NMP1_DEVICE_PATTERN_*` and the `NMP1_*_MAX` capacities with `-D` to shrink it. "
        "A device never decodes INFO, so the device skeleton decodes each message into its "
        "own struct rather than the union."
    )
    return Report(
        "C wire layer: code size and RAM",
        command,
        table,
        [
            Target("wire layer code (nmp1.o + nmp1_gen.o text)", wire_text, 8192, "<=", " B"),
            Target("receiver RAM (sizeof nmp1_rx_t)", rx, 300, "<=", " B"),
        ],
        notes,
    )
