"""Which failures Prefect retries: transient ones only.

Retried (exponential backoff with jitter): storage I/O and timeouts (StorageError, OSError,
TimeoutError), a CUDA out-of-memory that survived the batch-split fallback, a lost connection.
Never retried: bad configuration, a missing model, a busy index, a broken golden set — trying
again cannot fix them.
"""

from __future__ import annotations

from typing import Any

from prefect.tasks import exponential_backoff

from mmindex.errors import MMIndexError, StorageError

RETRIES = 3
RETRY_DELAYS = exponential_backoff(backoff_factor=10)  # 10 s, 20 s, 40 s ...
JITTER = 0.5  # each delay varies by up to +/-50%, so retries of parallel runs do not align


def is_transient(exc: BaseException) -> bool:
    """True for failures that another attempt may not hit."""
    if isinstance(exc, StorageError):
        return True
    if isinstance(exc, MMIndexError):  # config, model, busy index, golden set: permanent
        return False
    if type(exc).__name__ == "OutOfMemoryError":  # torch.cuda.OutOfMemoryError
        return True
    return isinstance(exc, (OSError, TimeoutError, ConnectionError))


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """``retry_condition_fn`` for Prefect tasks: retry only transient failures."""
    try:
        state.result()
    except Exception as exc:  # the task's exception is re-raised by result()
        return is_transient(exc)
    return False
