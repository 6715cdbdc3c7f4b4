"""Case ``scale``: a run's time per row stays flat from 100k to 1M rows, whatever group_items is,
and a run reads its manifest from S3 about twice (the plan's pass, then each group its own
bytes), not once per group (issue 23, item 9).

Each size runs in a fresh process with the ``hash`` model (no weights: the pipeline's own cost),
synthetic short texts (``bench.data.text_manifest``): 100k and 1M rows (quick: 10k and 100k), for
each ``group_items`` in :data:`GROUP_ITEMS`. ratio = (s/row at the large size) / (s/row at the
small one); target <= 1.2. The same ratio of CPU seconds per row is reported beside it (less
sensitive to a busy machine). Before, group g parsed every row before it: 1M rows in 50 groups is
about 25 full reads.

The S3 part puts the small manifest on a moto S3 server on 127.0.0.1, runs it in 20 groups and
counts the bytes s3fs fetches (``S3File._fetch_range``), split into the plan's pass and the
groups'. Target: the groups read <= 1.1x the manifest (before: 20 groups read it 10.5 times);
the plan's pass reads it once more.
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
    """The run of ``n`` rows from a loopback moto S3 server, its fetched bytes counted."""
    import s3fs.core
    from moto.server import ThreadedMotoServer

    from bench import common as c
    from bench.data import text_manifest

    fetched = [0]
    real = s3fs.core.S3File._fetch_range

    def counting(self: Any, start: int, end: int) -> bytes:
        data = real(self, start, end)
        fetched[0] += len(data)
        return data

    s3fs.core.S3File._fetch_range = counting
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
        s = c.bench_settings(Path(work), "hash", group_items=group_items, storage_options=opts,
                             deletion_policy="delete")
        c.load_model(s)
        from mmindex.pipeline import plan_run

        fetched[0] = 0
        plan_run("s3://scale/manifest.jsonl", "planned", s)
        planned = fetched[0]
        fetched[0] = 0
        out = c.timed_embed("s3://scale/manifest.jsonl", "bench", s)
    finally:
        server.stop()
    groups = fetched[0] - planned
    return {"n": n, "group_items": group_items, "groups": -(-n // group_items),
            "manifest_bytes": size, "plan_bytes": planned, "group_bytes": groups,
            "run_bytes": fetched[0], "groups_vs_manifest": round(groups / size, 3),
            "run_vs_manifest": round(fetched[0] / size, 3), "wall_s": out["wall_s"],
            "target": BYTES_TARGET, "meets_target": groups / size <= BYTES_TARGET}


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
