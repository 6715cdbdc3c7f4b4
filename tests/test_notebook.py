"""The example notebook runs top to bottom where Jupyter starts it: the kernel's working
directory is ``notebooks/``, and the project's ``mmindex.toml`` (relative ``db``) is one folder up.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mmindex import index as ix
from mmindex.config import Settings
from mmindex.errors import IndexNotFoundError
from mmindex.index import connect
from mmindex.pipeline import run_embed

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "explore_index.ipynb"


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, int]:
    """A checkout-like folder: mmindex.toml with a relative db, notebooks/, the index built."""
    texts = {"p1": "Tux the penguin", "p2": "a penguin on the ice", "m1": "a guitar, a musical "
             "instrument", "m2": "drums and a trumpet", "c1": "a red car"}
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"id": k, "text": v, "topic": k[0]}) + "\n"
                                for k, v in texts.items()))
    (tmp_path / "mmindex.toml").write_text('db = ".mmindex/db"\nmodel = "all-minilm-l6-v2"\n')
    (tmp_path / "notebooks").mkdir()
    shutil.copy(NOTEBOOK, tmp_path / "notebooks" / NOTEBOOK.name)
    s = Settings(db=str(tmp_path / ".mmindex" / "db"), model="all-minilm-l6-v2")
    r = run_embed(str(manifest), "sample", s)
    ix.promote(connect(s), "sample", r.table, r.version, reason="test")
    return tmp_path, r.version


def test_example_notebook_executes_from_notebooks_folder(project):
    project, version = project
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    nb = nbformat.read(project / "notebooks" / NOTEBOOK.name, as_version=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MMINDEX_")}
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(project / "notebooks")}})
    client.execute(env=env)  # raises CellExecutionError on any failing cell
    outputs = "\n".join(
        o.get("text", "") + json.dumps(o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    assert f"version {version}" in outputs
    assert "p1" in outputs or "p2" in outputs  # the penguin search found a penguin
    html = "\n".join(o.get("data", {}).get("text/html", "") for c in nb.cells
                     if c.cell_type == "code" for o in c.get("outputs", []))
    assert "<img" in html or "mmindex-gallery" in html  # the results shown as a gallery
    assert not (project / "notebooks" / ".mmindex").exists()  # nothing created where it ran


def test_the_settings_file_is_found_upward_and_a_read_creates_nothing(project, monkeypatch):
    import mmindex

    project = project[0]
    from mmindex.config import config_file

    monkeypatch.delenv("MMINDEX_CONFIG")
    deep = project / "notebooks" / "drafts"
    deep.mkdir()
    monkeypatch.chdir(deep)
    assert config_file() == project / "mmindex.toml"
    assert Settings().db == str((project / ".mmindex" / "db").resolve())
    assert mmindex.open_index("sample").name == "sample"
    monkeypatch.setenv("MMINDEX_DB", "elsewhere/db")  # a variable is relative to where it runs
    with pytest.raises(IndexNotFoundError, match="no database at"):
        mmindex.open_index("sample")
    assert not (deep / "elsewhere").exists()
