"""Runs benchmark cases, each in a fresh Python process, and collects one report.

Run one case by hand: ``python -m bench CASE --out result.json [--quick]``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from mmindex.errors import ConfigError

CASES: dict[str, str] = {
    "efficiency": "bench.efficiency",
    "vs_sentence_transformers": "bench.vs_st",
    "memory": "bench.memory",
    "second_night": "bench.second_night",
    "orchestration": "bench.orchestration",
    "search": "bench.search",
    "search_modes": "bench.search_modes",
    "cold_search": "bench.cold_search",
    "gpu": "bench.gpu",
    "scaleout": "bench.scaleout",
    "scale": "bench.scale",
}
#: cases that start servers (a Ray cluster, a Prefect API server): each runs in a loopback-only
#: network namespace of its own (bench/netns.py), or is refused where none can be made
SERVER_CASES = frozenset({"scaleout", "orchestration"})


def run_case(case: str, quick: bool, **kw: Any) -> dict[str, Any]:
    """Run one case in this process (what the child process does)."""
    from bench.data import Skip

    try:
        return importlib.import_module(CASES[case]).run(quick, **kw)
    except Skip as e:
        return {"skipped": str(e)}


def _spawn(case: str, quick: bool, out_dir: Path, kw: dict[str, Any],
           isolate: bool = False) -> dict[str, Any]:
    out = out_dir / "cases" / f"{case}.json"
    log = out_dir / "cases" / f"{case}.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bench", case, "--out", str(out),
           "--kwargs", json.dumps(kw)] + (["--quick"] if quick else [])
    if isolate:
        from bench import netns

        cmd = netns.wrap(cmd)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "LANCE_LOG": os.environ.get("LANCE_LOG", "error")}
    t0 = time.perf_counter()
    with open(log, "w", encoding="utf-8") as fh:
        rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env).returncode
    elapsed = round(time.perf_counter() - t0, 1)
    if rc or not out.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return {"error": f"exit {rc}: " + " | ".join(tail), "case_s": elapsed, "log": str(log)}
    return {**json.loads(out.read_text()), "case_s": elapsed}


def run_bench(cases: list[str] | None, out_dir: Path, quick: bool,
              overrides: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run benchmark cases; print a table; write ``out_dir/bench.json``; return the report.

    Args:
        cases: Case names (see :data:`CASES`); None = all.
        out_dir: Where ``bench.json`` and per-case logs go (created).
        quick: Smaller sizes (the whole suite in minutes, not an hour).
        overrides: Per-case keyword arguments for the case's ``run`` (tests use tiny sizes).

    Raises:
        ConfigError: an unknown case name, or a case that starts servers
            (:data:`SERVER_CASES`) where no loopback-only namespace can be made.
    """
    from bench import machine, netns
    from bench.report import format_table, summary_rows

    names = list(CASES) if not cases else list(cases)
    unknown = [c for c in names if c not in CASES]
    if unknown:
        raise ConfigError(f"unknown bench case(s) {', '.join(unknown)}. "
                          f"Help: choose from {', '.join(CASES)}.")
    isolate = {n for n in names if n in SERVER_CASES and not netns.isolated()}
    if isolate and not netns.can_isolate():
        raise ConfigError(f"bench case(s) {', '.join(sorted(isolate))} start servers and may "
                          f"only run in a loopback-only network namespace: {netns.why_not()}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    report: dict[str, Any] = {"quick": quick, "machine": machine.describe(), "results": {},
                              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    t0 = time.perf_counter()
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        res = _spawn(name, quick, out_dir, (overrides or {}).get(name, {}), name in isolate)
        report["results"][name] = res
        print(f"[bench] {name} done in {res['case_s']} s", file=sys.stderr, flush=True)
    report["total_s"] = round(time.perf_counter() - t0, 1)
    report["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    rows = [r for name in names for r in summary_rows(name, report["results"][name])]
    report["table"] = format_table(rows)
    (out_dir / "bench.json").write_text(json.dumps(report, indent=2, default=str))
    m = report["machine"]
    print(f"mmindex bench ({'quick' if quick else 'full'}) on {m['cpu']}, {m['cores']} cores, "
          f"{m['ram_gib']} GiB, GPU: {', '.join(m['gpus']) or 'none'}; "
          f"load avg {m['load_average_1m']} -> {report['load_average_1m_end']}; "
          f"{report['total_s']} s\n")
    print(report["table"])
    return report


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run one mmindex benchmark case (a child process).")
    p.add_argument("case", choices=sorted(CASES))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--kwargs", default="{}", help="JSON object of keyword arguments for run()")
    a = p.parse_args(argv)
    res = run_case(a.case, a.quick, **json.loads(a.kwargs))
    a.out.write_text(json.dumps(res, indent=2, default=str))
    return 0

