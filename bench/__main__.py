"""``python -m bench CASE --out FILE [--quick]``: one case, in this process."""

import sys

from bench.runner import main

sys.exit(main())
