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
404 / 405                    :class:`~mmindex.errors.ConfigError` at once: the base URL is wrong
other 4xx (400, 413, 422)    :class:`ApiRequestError` (a ``ValueError``): the *input* was
with a JSON error body       refused, so the pipeline splits the batch and quarantines the
                             culprit (``embed_failed``) while the run goes on
a body that is not the API's a service fault (a proxy's HTML page, a truncated or non-JSON
(non-JSON 2xx/4xx, or a 2xx  answer): retried like a 5xx; no item is blamed, so no item is
``check`` refuses)           quarantined and the next run takes them all
retries exhausted            :class:`~mmindex.errors.StorageError` (transient): the run fails
                             and Prefect's task retry may try again later
===========================  ===============================================================

The API key travels only in the ``Authorization`` header; every message (a server's error text
included, which may echo it) goes through :func:`~mmindex.errors.redact` with the key.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable
from typing import Any

from mmindex.errors import ConfigError, StorageError, redact

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


def _json(response: Any) -> dict[str, Any] | None:
    """The response's JSON object, or None when the body is not one (HTML, truncated, a list)."""
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _detail(response: Any, secrets: list[str]) -> str:
    """The server's error text, shortened, one line, secrets masked."""
    body = _json(response)
    if body is not None:
        text = body.get("detail") or body.get("error") or body.get("message") or str(body)
    else:
        text = response.text
    return redact(" ".join(str(text).split())[:300], secrets)


def post_json(client: Any, url: str, payload: dict[str, Any], *, headers: dict[str, str],
              max_retries: int, backoff_s: float = 0.5, service: str = "API",
              sleep: Callable[[float], None] = time.sleep,
              check: Callable[[dict[str, Any]], Any] | None = None) -> Any:
    """POST ``payload`` as JSON with ``client`` (an ``httpx.Client``) under the rules above;
    the JSON body, or ``check(body)`` (which raises ``ValueError`` for a malformed answer).

    Raises:
        ConfigError: HTTP 401/403 (the key).
        ApiRequestError: another 4xx with a JSON error body (the input).
        StorageError: still 429/5xx/timeouts/malformed answers after ``max_retries`` retries
            (transient).
    """
    import httpx

    secrets = [v.partition(" ")[2] or v for v in headers.values()]
    shown = redact(url, secrets)
    last = ""
    for attempt in range(max_retries + 1):
        wait = min(backoff_s * 2 ** attempt, MAX_WAIT_S)
        try:
            response = client.post(url, json=payload, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            last = redact(f"{type(exc).__name__}: {exc}", secrets)
        else:
            status, body = response.status_code, _json(response)
            if status < 300:
                try:
                    if body is None:
                        raise ValueError("the body is not a JSON object")
                    return check(body) if check else body
                except (ValueError, TypeError, KeyError) as exc:
                    last = (f"HTTP {status} with a malformed answer ({redact(str(exc), secrets)}"
                            f"): {_detail(response, secrets)[:120]}")
            elif status in (401, 403):
                raise ConfigError(
                    f"{service} refused the API key (HTTP {status}: "
                    f"{_detail(response, secrets)}). Help: set a valid key in "
                    "MMINDEX_VOYAGE_API_KEY (or voyage_api_key in mmindex.toml); see "
                    "docs/model-families.md.")
            elif status in (404, 405):
                raise ConfigError(
                    f"{service} has no such endpoint: {shown} answered HTTP {status} "
                    f"({_detail(response, secrets)}). Help: check voyage_base_url (it ends in "
                    "/v1).")
            elif status == 429:
                wait = min(retry_after_s(response.headers.get("retry-after")) or wait,
                           MAX_WAIT_S)
                last = f"HTTP 429 (rate limited): {_detail(response, secrets)}"
            elif status >= 500 or body is None:  # a proxy's page, not the API's answer
                last = f"HTTP {status}: {_detail(response, secrets)}"
            else:
                raise ApiRequestError(status, _detail(response, secrets))
        if attempt < max_retries:
            log.warning("%s: %s; retry %d/%d in %.1f s", service, last, attempt + 1,
                        max_retries, wait)
            sleep(wait)
    raise StorageError(
        f"{service} at {shown} still failing after {max_retries} retries ({last}); no item was "
        "quarantined for it. Help: check the service's status and your rate limits (and "
        "voyage_base_url), then re-run: staged batches are kept.", transient=True)
