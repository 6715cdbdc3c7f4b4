"""Fault injection inside the Ray worker processes of tests/test_ray.py (never elsewhere).

The test cluster's nodes start with this folder on PYTHONPATH and MMINDEX_TEST_RAY_CONTROL set to
a folder; each Ray worker then wraps ``HashEmbedder.forward`` to read its orders from files there:

- ``slow``: seconds to sleep per batch (so a group is still running when a node is removed);
- ``kill``: the first worker to see it claims it (an atomic rename) and calls ``os._exit(1)``
  on its next batch: an actor dying mid-group, with some of the group's rows already staged.
"""

import os
import sys

_CONTROL = os.environ.get("MMINDEX_TEST_RAY_CONTROL")

if _CONTROL and "default_worker" in " ".join(sys.argv):
    import time

    from mmindex.backends import fake

    _forward = fake.HashEmbedder.forward

    def _forward_with_faults(self, batch):
        slow = os.path.join(_CONTROL, "slow")
        if os.path.exists(slow):
            with open(slow) as f:
                time.sleep(float(f.read() or 0))
        kill = os.path.join(_CONTROL, "kill")
        try:
            os.rename(kill, kill + f".claimed-by-{os.getpid()}")
        except OSError:
            pass  # no order, or another worker claimed it
        else:
            os._exit(1)
        return _forward(self, batch)

    fake.HashEmbedder.forward = _forward_with_faults
