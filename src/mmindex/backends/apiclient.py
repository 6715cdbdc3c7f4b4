"""One JSON POST with the retry rules every HTTP embedding API backend shares.

===========================  ===============================================================
response                     what happens
===========================  ===============================================================
2xx                          the JSON body is returned
429 (rate limited)           wait ``Retry-After`` (seconds or an HTTP date; else the backoff),
                             then try again, up to ``max_retries`` times
5xx, timeout, connect error  exponential backoff (``backoff_s`` x 2^attempt, capped), again
401 / 403                    :class:`~mmindex.errors.ConfigError` at once: the key is wrong, and
                             no retry or other item can change that (the run stops)
other 4xx (400, 413, 422)    :class:`ApiRequestError` (a ``ValueError``): the *input* was
                             refused, so the pipeline splits the batch and quarantines the
                             culprit (``embed_failed``) while the run goes on
retries exhausted            :class:`~mmindex.errors.StorageError` (transient): the run fails
                             and Prefect's task retry may try again later
===========================  ===============================================================

The API key travels only in the ``Authorization`` header; it is never part of a message.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any

from mmindex.errors import ConfigError, StorageError

log = logging.getLogger(__name__)

MAX_WAIT_S = 120.0  # longest single wait, whatever Retry-After says


class ApiRequestError(ValueError):
    """The API refused the request's content (4xx other than auth): an item problem."""

    def __init__(self, status: int, message: str):
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (time.time() if now is None else now))


def _detail(response: Any) -> str:
    try:
        body = response.json()
        text = body.get("detail") or body.get("error") or body.get("message") or str(body)
    except ValueError:
        text = response.text
    return str(text)[:300]


def post_json(client: Any, url: str, payload: dict[str, Any], *, headers: dict[str, str],
              max_retries: int, backoff_s: float = 0.5, service: str = "API",
              sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """POST ``payload`` as JSON with ``client`` (an ``httpx.Client``) under the rules above.

    Raises:
        ConfigError: HTTP 401/403 (the key).
        ApiRequestError: another 4xx (the input).
        StorageError: still 429/5xx/timeouts after ``max_retries`` retries (transient).
    """
    import httpx

    last = ""
    for attempt in range(max_retries + 1):
        wait = min(backoff_s * 2 ** attempt, MAX_WAIT_S)
        try:
            response = client.post(url, json=payload, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            if status < 300:
                return response.json()
            if status in (401, 403):
                raise ConfigError(
                    f"{service} refused the API key (HTTP {status}: {_detail(response)}). Help: "
                    "set a valid key in MMINDEX_VOYAGE_API_KEY (or voyage_api_key in "
                    "mmindex.toml); see docs/model-families.md.")
            if status == 429:
                wait = min(retry_after_s(response.headers.get("retry-after")) or wait,
                           MAX_WAIT_S)
                last = f"HTTP 429 (rate limited): {_detail(response)}"
            elif status >= 500:
                last = f"HTTP {status}: {_detail(response)}"
            else:
                raise ApiRequestError(status, _detail(response))
        if attempt < max_retries:
            log.warning("%s: %s; retry %d/%d in %.1f s", service, last, attempt + 1,
                        max_retries, wait)
            sleep(wait)
    raise StorageError(
        f"{service} at {url} still failing after {max_retries} retries ({last}). Help: check "
        "the service's status and your rate limits, then re-run (staged batches are kept).",
        transient=True)
