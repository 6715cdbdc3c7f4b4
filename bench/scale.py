"""Case ``scale``: a run's time per row stays flat from 100k to 1M rows, whatever group_items is,
and a run reads its manifest from S3 once, not once per group (issue 23, item 9).

Each size runs in a fresh process with the ``hash`` model (no weights: the pipeline's own cost),
synthetic short texts (``bench.data.text_manifest``): 100k and 1M rows (quick: 10k and 100k), for
each ``group_items`` in :data:`GROUP_ITEMS`. ratio = (s/row at the large size) / (s/row at the
small one); target <= 1.2. The same ratio of CPU seconds per row is reported beside it (less
sensitive to a busy machine). Before, group g parsed every row before it: 1M rows in 50 groups is
about 25 full reads.

The S3 part puts the small manifest on a moto S3 server on 127.0.0.1, runs it in 20 groups with
``deletion_policy=delete`` and counts the bytes s3fs fetches (``S3File._fetch_range``), split
into the plan's pass and the rest of the run (groups, commit). Target: the whole run reads
<= 1.1x the manifest (the plan's pass spools what it reads, the groups read the local copy;
before: 2x, and 20 groups without offsets read it 10.5 times). The same run with
``spool_manifest=false`` (what groups on another host do: ranged reads of the store) is reported
beside it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench.common import call_in_child

TARGET = 1.2
BYTES_TARGET = 1.1
GROUP_ITEMS = (5_000, 20_000)  # 20,000: the default


def child(n: int, work: str, group_items: int) -> dict[str, Any]:
    """One run of ``n`` rows in this fresh process."""
    from bench import common as c
    from bench.data import text_manifest

    manifest = text_manifest(Path(work) / "manifest.jsonl", n)
    s = c.bench_settings(Path(work), "hash", group_items=group_items)
    c.load_model(s)
    out = c.timed_embed(str(manifest), "bench", s)
    out.update(n=n, group_items=group_items, groups=-(-n // group_items),
               s_per_row_us=round(1e6 * out["wall_s"] / n, 2),
               cpu_per_row_us=round(1e6 * out["cpu_s"] / n, 2),
               manifest_bytes=(Path(work) / "manifest.jsonl").stat().st_size)
    return out


def s3_child(n: int, work: str, group_items: int) -> dict[str, Any]:
    """The run of ``n`` rows from a loopback moto S3 server, its fetched bytes counted; then the
    same without the spool."""
    import s3fs.core
    from moto.server import ThreadedMotoServer

    from bench import common as c
    from bench.data import text_manifest
    from mmindex import pipeline

    fetched, planned = [0], [0]
    real, real_plan = s3fs.core.S3File._fetch_range, pipeline.plan_run

    def counting(self: Any, start: int, end: int) -> bytes:
        data = real(self, start, end)
        fetched[0] += len(data)
        return data

    def plan_counted(*args: Any, **kw: Any) -> Any:
        plan = real_plan(*args, **kw)
        planned[0] = fetched[0]
        return plan

    s3fs.core.S3File._fetch_range, pipeline.plan_run = counting, plan_counted
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        opts = {"endpoint_url": f"http://{host}:{port}", "key": "bench", "secret": "bench"}
        fs = s3fs.S3FileSystem(skip_instance_cache=True, **opts)
        fs.mkdir("scale")
        local = text_manifest(Path(work) / "manifest.jsonl", n)
        fs.put_file(str(local), "scale/manifest.jsonl")
        size = local.stat().st_size
        warm = c.bench_settings(Path(work) / "warm", "hash")  # the process's first write is slow
        c.load_model(warm)
        c.timed_embed(str(text_manifest(Path(work) / "warm.jsonl", 100)), "warm", warm)
        out = {}
        for spool in (True, False):
            s = c.bench_settings(Path(work) / str(spool), "hash", group_items=group_items,
                                 storage_options=opts, deletion_policy="delete",
                                 spool_manifest=spool)
            c.load_model(s)
            fetched[0] = 0
            run = c.timed_embed("s3://scale/manifest.jsonl", "bench", s)
            out[spool] = {"plan_bytes": planned[0], "group_bytes": fetched[0] - planned[0],
                          "run_bytes": fetched[0], "run_vs_manifest": round(fetched[0] / size, 3),
                          "groups_vs_manifest": round((fetched[0] - planned[0]) / size, 3),
                          "wall_s": run["wall_s"]}
    finally:
        server.stop()
    ratio = out[True]["run_vs_manifest"]
    return {"n": n, "group_items": group_items, "groups": -(-n // group_items),
            "manifest_bytes": size, **out[True], "without_spool": out[False],
            "target": BYTES_TARGET, "meets_target": ratio <= BYTES_TARGET}


def run(quick: bool, sizes: tuple[int, int] | None = None,
        group_items: tuple[int, ...] = GROUP_ITEMS, work: Path | None = None) -> dict[str, Any]:
    small, large = sizes or ((10_000, 100_000) if quick else (100_000, 1_000_000))
    pairs = []
    for g in group_items:
        runs = {}
        for n in (small, large):
            with tempfile.TemporaryDirectory(dir=work) as tmp:
                runs[n] = call_in_child("bench.scale:child", n, tmp, g)
        ratio = round(runs[large]["s_per_row_us"] / runs[small]["s_per_row_us"], 3)
        cpu = round(runs[large]["cpu_per_row_us"] / runs[small]["cpu_per_row_us"], 3)
        pairs.append({"group_items": g, "small": runs[small], "large": runs[large],
                      "ratio": ratio, "cpu_ratio": cpu, "target": TARGET,
                      "meets_target": ratio <= TARGET})
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        s3 = call_in_child("bench.scale:s3_child", small, tmp, max(1, small // 20))  # 20 groups
    return {"pairs": pairs, "s3": s3, "meets_target": all(p["meets_target"] for p in pairs)
            and s3["meets_target"]}
