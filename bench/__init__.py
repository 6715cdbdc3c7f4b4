"""``mmindex bench``: measurements that back the pipeline's performance claims.

Each case is a module with ``run(quick, **sizes) -> dict``; :func:`run_bench` runs each in its
own Python process (clean peak-RSS numbers, no model cached from the case before), prints a
table and writes ``bench.json``. See ``docs/performance.md`` for the method and the results.

==========================  ===========================================================
case                        what it shows
==========================  ===========================================================
``efficiency``              end-to-end items/s / bare-model items/s (MiniLM; mid Qwen3-VL)
``vs_sentence_transformers`` our run vs ``SentenceTransformer.encode`` on the same texts
``memory``                  peak RSS of a 10k vs a 200k-item run (flat memory)
``second_night``            re-run over an unchanged / 1%-changed source vs the first run
``orchestration``           the Prefect ``embed`` flow vs ``run_embed`` directly
``search``                  IVF_PQ latency and recall@10 vs exact search; a parameter sweep
``gpu``                     the 2B shape on CUDA (skipped without a GPU)
``scaleout``                local vs the Ray executor; 1 vs 2 Ray worker nodes (extra ``ray``)
==========================  ===========================================================
"""

from bench.runner import CASES, run_bench

__all__ = ["CASES", "run_bench"]
