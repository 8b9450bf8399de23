"""``python -m embedclf``: the ``embedclf`` command."""

import sys

from .cli import main

sys.exit(main())
