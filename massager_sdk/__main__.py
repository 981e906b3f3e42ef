"""``python -m massager_sdk``: the ``massager`` command, without the console script."""

import sys

from massager_sdk.cli import main

if __name__ == "__main__":
    sys.exit(main())
