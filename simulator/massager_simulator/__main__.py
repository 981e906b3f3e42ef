"""``python -m massager_simulator``: serve a simulated device (see :mod:`.serve`)."""

import sys

from massager_simulator.serve import main

sys.exit(main(prog="python -m massager_simulator"))
