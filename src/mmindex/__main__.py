"""``python -m mmindex``: the same command line as ``mmindex``."""

import sys

from mmindex.cli import main

sys.exit(main())
