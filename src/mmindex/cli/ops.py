"""``mmindex indexes | quarantine``: what an operator asks of a database; and the human form of
``mmindex maintain``'s result."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from typing import Any

from mmindex.cli.common import add_common, emit, settings_from
from mmindex.cli.read import local_time


def cmd_indexes(args: argparse.Namespace) -> int:
    from mmindex.index import connect
    from mmindex.index.history import describe_indexes

    settings = settings_from(args)
    rows = describe_indexes(connect(settings))
    emit(rows, args.json, indexes_text(rows, settings.timezone, settings.db))
    return 0


def indexes_text(rows: list[dict[str, Any]], timezone: str, db: str) -> str:
    if not rows:
        return f"no index in {db} yet (`mmindex embed SOURCE --index NAME` makes one)"
    lines = [f"{'index':<16} {'model':<24} {'dims':>5} {'production':<12} {'rows':>8}  "
             f"{'last run (' + timezone + ')':<42} tables"]
    for r in rows:
        prod = r["production"]
        last = r["last_run"] or {}
        when = local_time(last.get("started_at") or last.get("at"), timezone)
        run = (f"{when} {last.get('status', '-')}"
               + (f" v{last['version']}" if last.get("version") is not None else ""))
        lines.append(
            f"{r['index']:<16} {r['model'] or '-':<24} {r['dims'] or '-':>5} "
            f"{'v' + str(prod['version']) if prod else 'none':<12} "
            f"{'-' if r['rows'] is None else r['rows']:>8}  {run:<42} "
            + ", ".join(r["tables"]))
    return "\n".join(lines)


def parse_since(text: str) -> datetime:
    """``7d``, ``12h``, ``30m`` (ago) or an ISO date/time (UTC unless it says otherwise)."""
    units = {"d": "days", "h": "hours", "m": "minutes"}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a duration (7d, 12h, 30m) nor a date (2026-12-01)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def cmd_quarantine(args: argparse.Namespace) -> int:
    from mmindex.index import connect
    from mmindex.index.history import quarantine_history

    settings = settings_from(args)
    info = quarantine_history(connect(settings), args.index, args.since)
    emit(info, args.json, quarantine_text(info, settings.timezone))
    return 0


def quarantine_text(info: dict[str, Any], timezone: str) -> str:
    since = f" since {local_time(info['since'], timezone)}" if info["since"] else ""
    items = info["items"]
    if not items:
        return f"index {info['index']}: nothing quarantined{since}"
    reasons = ", ".join(f"{k}: {v}" for k, v in sorted(info["by_reason"].items()))
    lines = [f"index {info['index']}: {len(items)} quarantined item(s){since} ({reasons}), "
             f"over {info['runs_with_quarantine']} run(s); * = in the latest run "
             f"({info['latest_run']})",
             f"  {'item':<28} {'reason':<20} {'first seen':<17} {'last seen':<17} "
             f"{'runs':>4}  message  (times: {timezone})"]
    for r in items:
        lines.append(f"{'*' if r['current'] else ' '} {r['item_id']:<28} {r['reason']:<20} "
                     f"{local_time(r['first_seen'], timezone):<17} "
                     f"{local_time(r['last_seen'], timezone):<17} {r['runs']:>4}  "
                     f"{' '.join((r['message'] or '').split())[:100]}")
    return "\n".join(lines)


def maintain_text(out: dict[str, Any], index: str, older_than_days: float) -> str:
    """``mmindex maintain``'s result, one line per table (was a Python dict per table)."""
    if not out:
        return f"index {index}: no table to maintain"
    lines = [f"index {index}:"]
    for table, r in out.items():
        if "skipped" in r:
            lines.append(f"  {table}: skipped ({r['skipped']})")
            continue
        removed = r["versions_before"] - r["versions_after"]
        what = (f"{removed} old version(s) removed" if removed > 0 else
                f"nothing older than {older_than_days:g} days to remove (compaction adds "
                "versions)")
        lines.append(f"  {table}: compacted; versions {r['versions_before']} -> "
                     f"{r['versions_after']}, {what}; kept (tagged): "
                     + (", ".join(r["tags"]) or "none"))
    return "\n".join(lines)


def register(sub: Any) -> None:
    i = sub.add_parser("indexes", help="the indexes of the database: model, dims, production "
                                       "version, rows, last run")
    add_common(i)
    i.set_defaults(fn=cmd_indexes)

    q = sub.add_parser("quarantine", help="what was quarantined in an index, why, since when, "
                                          "how many times")
    q.add_argument("--index", required=True, help="index name")
    q.add_argument("--since", type=parse_since, metavar="WHEN",
                   help="only quarantines since WHEN: 7d, 12h, 30m ago, or a date 2026-12-01")
    add_common(q)
    q.set_defaults(fn=cmd_quarantine)
