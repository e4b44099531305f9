"""``python -m bottlenecktop``: the same as the ``bottlenecktop`` command."""

import sys

from bottlenecktop.app.cli import main

if __name__ == "__main__":
    sys.exit(main())
