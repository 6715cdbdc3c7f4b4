"""``python -m mmindex.bench CASE --out FILE [--quick]``: one case, in this process."""

import sys

from mmindex.bench.runner import main

sys.exit(main())
