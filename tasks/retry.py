"""How the mmindex tasks retry: transient failures only, with backoff and jitter.

Which failures are transient is the library's rule (:func:`mmindex.errors.is_transient`: storage
I/O, timeouts, a CUDA OOM that survived the batch split); bad configuration, a missing model, a
busy index or a broken golden set are never retried. :data:`RETRYING` is the one set of task
options every retrying task uses.
"""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import NONE
from prefect.tasks import exponential_backoff

from mmindex.errors import is_transient

RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=10)  # 10 s, 20 s, 40 s ...
JITTER = 0.5  # each delay varies by up to +/-50%, so retries of parallel runs do not align


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for Prefect tasks: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:  # the task's exception is re-raised by result()
        return is_transient(exc)
    return False


# Task results are small dicts of counts, never cached or persisted: a retry re-runs the body,
# which reuses what an earlier attempt staged.
RETRYING: dict[str, Any] = dict(
    retries=RETRIES, retry_delay_seconds=RETRY_DELAYS, retry_jitter_factor=JITTER,
    retry_condition_fn=retry_transient, cache_policy=NONE, persist_result=False)
