"""``make demo``: the classic session on the embedded simulator, 60 times faster.

It is ``massager run classic --speed 60`` with a demo health profile that records
the safety acknowledgement in a temporary file, and a session ledger of its own in the
same place: the demo never touches your profile or your history, and a simulated
session leaves you no rest period to wait out (so the demo runs again at once).
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    """Run the classic program on ``sim://`` at 60x and print what happened."""
    from massager_sdk.cli import main as cli
    from massager_sdk.safety.ledger import LEDGER_ENV
    from massager_sdk.safety.profile import HEALTH_PROFILE_ENV

    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile.toml"
        profile.write_text("acknowledged = true\n", encoding="utf-8")
        os.environ[HEALTH_PROFILE_ENV] = str(profile)
        os.environ[LEDGER_ENV] = str(Path(tmp) / "ledger.sqlite3")
        print("massager run classic --speed 60   (the embedded simulator, sim://heat4)")
        return cli(["run", "classic", "--speed", "60", *sys.argv[1:]])


if __name__ == "__main__":
    sys.exit(main())
