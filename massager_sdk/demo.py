"""``make demo``: the classic session on the embedded simulator, 60 times faster.

It is ``massager run classic --speed 60`` with a demo profile that records
the safety acknowledgement in a temporary file, so the demo never touches your
own profile.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    """Run the classic program on ``sim://`` at 60x and print what happened."""
    from massager_sdk.cli import main as cli

    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.toml"
        profile.write_text("acknowledged = true\n", encoding="utf-8")
        os.environ["MASSAGER_HEALTH_PROFILE"] = str(profile)
        print("massager run classic --speed 60   (the embedded simulator, sim://heat4)")
        return cli(["run", "classic", "--speed", "60", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
