"""``python -m embedclf.cli``: the ``embedclf`` command."""

import sys

from . import main

sys.exit(main())
