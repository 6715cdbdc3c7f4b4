"""Every wrong invocation ends the same way: exit status 2, one ``mmindex: error:`` line that says
what is wrong, one ``Help:`` line that says what to do, within seconds (no model loaded, no
traceback)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = str(REPO / "data" / "sample" / "manifest.jsonl")
MALFORMED = REPO / "tests" / "malformed"  # a bad Jina config.json, bad recipes, a bad grade


def run(args: list[str], tmp: Path, env: dict[str, str] | None = None,
        config: str | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "MMINDEX_DB": str(tmp / "db"), "MMINDEX_CACHE_DIR": str(tmp / "cache"),
            "MMINDEX_CONFIG": os.devnull, **(env or {})}
    if config is not None:
        (tmp / "mmindex.toml").write_text(config)
        full["MMINDEX_CONFIG"] = str(tmp / "mmindex.toml")
    return subprocess.run([sys.executable, "-m", "mmindex", *args], capture_output=True,
                          text=True, env=full, cwd=tmp, timeout=60)


CASES = [
    # (name, argv, extra env, settings file, what the error line must say)
    ("bad index name", ["embed", SAMPLE, "--index", "bad__name"], None, None,
     "index name 'bad__name'"),
    ("dims sweep not numbers", ["evaluate", "--index", "s", "--queries", "q", "--qrels", "r",
                                "--dims-sweep", "128,abc"], None, None, "128,abc"),
    ("unknown device", ["embed", SAMPLE, "--index", "s", "--device", "gpu"], None, None,
     "device='gpu' from flag"),
    ("bad environment value", ["embed", SAMPLE, "--index", "s"],
     {"MMINDEX_TOKEN_BUDGET": "lots"}, None, "from environment (MMINDEX_TOKEN_BUDGET)"),
    ("typo in the settings file", ["config"], None, "tokn_budget = 4096\n",
     "unknown setting 'tokn_budget'"),
    ("typo'd index name (search)", ["search", "--index", "nope", "penguin"], None, None,
     "no index named 'nope'"),
    ("typo'd index name (versions)", ["versions", "--index", "nope"], None, None,
     "no index named 'nope'"),
    ("queries without qrels", ["embed", SAMPLE, "--index", "s", "--queries", "q.jsonl"], None,
     None, "--queries and --qrels go together"),
    ("unknown model", ["embed", SAMPLE, "--index", "s", "--model", "no-such-model",
                       "--no-prefect"], None, None, "unknown model spec"),
    ("missing manifest", ["embed", "nowhere/manifest.jsonl", "--index", "s", "--model", "hash",
                          "--no-prefect"], None, None, "nowhere/manifest.jsonl"),
    ("missing golden set", ["evaluate", "--index", "nope", "--queries", "q.jsonl", "--qrels",
                            "r.tsv"], None, None, "q.jsonl"),
    ("unknown command", ["embedd"], None, None, "invalid choice: 'embedd'"),
    ("missing option", ["search", "penguin"], None, None, "--index"),
    ("rerank-top without rerank", ["search", "--index", "s", "penguin", "--rerank-top", "5"],
     None, None, "--rerank-top N"),
    # issue 23: each of these ended in a traceback with exit 1, or was accepted
    ("malformed settings file", ["config"], None, 'db = "unclosed\n',
     "cannot read the settings file"),
    *[(f"non-JSON {var}", ["search", "--index", "s", "penguin"], {var: "/not/json"}, None,
       f"{var} is not valid JSON")
      for var in ("MMINDEX_GATE", "MMINDEX_MEDIA_ROOTS", "MMINDEX_STORAGE_OPTIONS",
                  "MMINDEX_TRUST_REMOTE_CODE_DIRS")],
    ("recipe template {text.nope}", ["embed", SAMPLE, "--index", "s", "--no-prefect", "--model",
                                     f"vlm:{MALFORMED}#{MALFORMED / 'template_field.toml'}"],
     None, None, "a template does not render"),
    ("recipe max_length = 'abc'", ["embed", SAMPLE, "--index", "s", "--no-prefect", "--model",
                                   f"vlm:{MALFORMED}#{MALFORMED / 'max_length_text.toml'}"],
     None, None, "max_length = 'abc' is not a positive integer"),
    ("malformed jina config.json", ["embed", SAMPLE, "--index", "s", "--no-prefect", "--model",
                                    f"jina:{MALFORMED}"],
     {"MMINDEX_TRUST_REMOTE_CODE_DIRS": json.dumps([str(MALFORMED)])}, None,
     "auto_map is malformed"),
    ("search -k 2**63", ["search", "--index", "s", "penguin", "-k", str(2**63)], None, None,
     "argument -k"),
    ("search --version -1", ["search", "--index", "s", "penguin", "--version", "-1"], None,
     None, "argument --version"),
    ("evaluate --version -1", ["evaluate", "--index", "s", "--queries", "q", "--qrels", "r",
                               "--version", "-1"], None, None, "argument --version"),
    *[(f"maintain --older-than-days {v}", ["maintain", "--index", "s", "--older-than-days", v],
       None, None, "not a finite number of days") for v in ("nan", "inf")],
    ("--rerank-top 0", ["search", "--index", "s", "penguin", "--rerank", "--rerank-top", "0"],
     None, None, "argument --rerank-top"),
    ("qrels grade 1e300", ["evaluate", "--index", "s", "--queries",
                           str(MALFORMED / "queries.jsonl"), "--qrels",
                           str(MALFORMED / "qrels_huge_grade.tsv")], None, None, "1e300"),
    ("whitespace-only query", ["search", "--index", "s", "   "], None, None,
     "the query is empty"),
    ("120 KB query", ["search", "--index", "s", "a" * 120_000], None, None,
     "the query is 120,000 characters"),
]


@pytest.mark.parametrize(("argv", "env", "config", "says"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_wrong_invocations_exit_2_with_one_error_line_and_a_help_line(
        tmp_path: Path, argv: list[str], env: dict | None, config: str | None, says: str):
    done = run(argv, tmp_path, env, config)
    lines = [x for x in done.stderr.splitlines() if not x.startswith("mmindex: settings")
             and not x.startswith("mmindex: no settings file")]
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(lines) == 2, done.stderr
    assert lines[0].startswith("mmindex: error: ") and says in lines[0], lines[0]
    assert lines[1].startswith("Help: ") and len(lines[1]) > len("Help: ") + 10, lines[1]
    assert "fix or drop the row" not in done.stderr  # a query is not a manifest row


def test_a_malformed_10_mb_line_is_named_not_echoed(tmp_path: Path) -> None:
    golden = REPO / "data" / "sample" / "golden"
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "x" * 10_000_000 + "\n")
    done = run(["evaluate", "--index", "s", "--queries", str(golden / "queries.jsonl"),
                "--qrels", str(qrels)], tmp_path)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "line 2" in done.stderr and "… (10,000,000 chars)" in done.stderr
    assert len(done.stderr) < 2_000, len(done.stderr)


def test_a_reader_that_leaves_early_is_not_an_error(tmp_path: Path) -> None:
    # `mmindex config | head -1`: the pipe closes before mmindex has written everything
    p = subprocess.Popen([sys.executable, "-m", "mmindex", "config"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env={**os.environ, "MMINDEX_CONFIG": os.devnull},
                         cwd=tmp_path)
    p.stdout.close()
    _, err = p.communicate(timeout=60)
    assert p.returncode == 0 and b"Traceback" not in err and b"BrokenPipe" not in err, err


def test_version_and_help_show_defaults_without_markup() -> None:
    version = subprocess.run([sys.executable, "-m", "mmindex", "--version"],
                             capture_output=True, text=True, timeout=60)
    from importlib.metadata import version as installed

    assert version.stdout.strip() == f"mmindex {installed('mmindex')}"
    helptext = subprocess.run([sys.executable, "-m", "mmindex", "search", "--help"],
                              capture_output=True, text=True, timeout=60).stdout
    assert "``" not in helptext and "(default: 10)" in helptext and "gate.mode" in helptext


@pytest.mark.slow
def test_embed_and_evaluate_show_a_progress_bar(tmp_path: Path) -> None:
    golden = REPO / "data" / "sample" / "golden"
    embed = run(["embed", SAMPLE, "--index", "s", "--model", "hash", "--no-prefect",
                 "--progress", "--json"], tmp_path)
    assert embed.returncode == 0, embed.stderr
    assert "84/84" in embed.stderr and "quarantined" in embed.stderr  # stderr: --json stays clean
    assert json.loads(embed.stdout)["seen"] == 84
    ev = run(["evaluate", "--index", "s", "--queries", str(golden / "queries.jsonl"),
              "--qrels", str(golden / "qrels.tsv"), "--no-gate", "--progress"], tmp_path)
    assert ev.returncode == 0, ev.stderr
    bar = re.search(r"evaluate s .*? (\d+)/(\d+)", ev.stderr)
    assert bar and bar.group(1) == bar.group(2) and int(bar.group(1)) > 0, ev.stderr


def test_every_option_of_every_command_says_what_it_does() -> None:
    import argparse

    from mmindex.cli import build_parser

    parser = build_parser()
    [sub] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = [f"{name} {'/'.join(a.option_strings) or a.dest}"
               for name, p in sub.choices.items() for a in p._actions
               if not isinstance(a, argparse._HelpAction) and not a.help]
    assert missing == []
