"""The gate's outcome as the run's state: a rejected candidate ends the run ``Failed`` named
``Rejected``, with the reason as the state's message.

Before, a nightly whose candidate the gate rejected ended ``Completed`` like any good night: the
UI showed it green, the alert automation (Failed/Crashed) stayed silent, and only a WARNING log
line said "gate FAILED". Why ``Failed(name="Rejected")`` rather than ``Completed(name=...)``:

- the Prefect UI colours a run by its state *type*: a Completed run is green whatever its name;
- filters, dashboards and automations that watch failures (state type FAILED) see it too;
- the name tells it apart from a run that broke: the event is ``prefect.flow-run.Rejected`` (not
  ``...Failed``), the message names the failed checks, and the data (the run's result: counts,
  version, evaluation) is kept on the state;
- nothing retries it: the flows have no flow-level retries, and a re-run would only reject the
  same candidate again.

A run that passed the gate (or had none) ends ``Completed`` with its result, as before.
"""

from __future__ import annotations

from typing import Any

REJECTED = "Rejected"


def rejected(evaluation: dict[str, Any] | None) -> bool:
    """Whether the gate said no (``decision.passed`` is false), applied or not."""
    decision = (evaluation or {}).get("decision")
    return bool(decision) and not decision["passed"]


def reason(evaluation: dict[str, Any]) -> str:
    """One line for the state's message: what was rejected, why, and where production stays."""
    decision = evaluation["decision"]
    failed = [r for r in decision["reasons"] if not r.startswith(("first run", "all "))]
    prod = evaluation.get("production")
    stays = (f"production stays {prod['table']} v{prod['version']}" if prod else
             "nothing was promoted")
    applied = {"rejected": "", "none": " (not applied: promote was off)"}.get(
        evaluation.get("action", ""), "")
    return (f"gate rejected {evaluation['table']} v{evaluation['version']} "
            f"({decision['mode']} search): {'; '.join(failed) or 'a check failed'}; "
            f"{stays}{applied}")


def key_metrics(evaluation: dict[str, Any],
                names: tuple[str, ...] = ("ndcg@10", "hit@5", "mrr@10", "recall@10")
                ) -> list[dict[str, Any]]:
    """The gated mode's headline metrics: candidate, production and the change, one row each."""
    mode = (evaluation.get("decision") or {}).get("mode") or next(iter(evaluation["metrics"]))
    cand = evaluation["metrics"].get(mode, {})
    prod = ((evaluation.get("production") or {}).get("metrics") or {}).get(mode)
    rows = []
    for n in names:
        if n not in cand:
            continue
        rows.append({"metric": n, "mode": mode, "candidate": cand[n],
                     "production": None if prod is None else prod.get(n),
                     "delta": None if prod is None or n not in prod else cand[n] - prod[n]})
    return rows


def decision_markdown(evaluation: dict[str, Any] | None) -> list[str]:
    """The gate section of the embed run's summary artifact."""
    if not evaluation:
        return ["## Gate: not decided", "",
                "No evaluation result: no golden set, nothing committed, or the evaluation "
                "failed (see the evaluate run). Nothing was promoted.", ""]
    decision = evaluation.get("decision")
    if not decision:
        return [f"## Gate: none (action: {evaluation.get('action')})", ""]
    word = "REJECTED" if rejected(evaluation) else "PASSED"
    lines = [f"## Gate: **{word}** → {evaluation.get('action')} "
             f"(`{evaluation['table']}` v{evaluation['version']}, {decision['mode']} search)", ""]
    if rejected(evaluation):
        lines += [f"> {reason(evaluation)}", ""]
    lines += [f"- {r}" for r in decision["reasons"]] + [""]
    prod = evaluation.get("production")
    rows = key_metrics(evaluation)
    if rows:
        other = f"production v{prod['version']}" if prod else "production"
        lines += [f"| metric | candidate | {other} | Δ |", "|---|---|---|---|"]
        lines += [f"| {r['metric']} | {r['candidate']:.4f} | "
                  + ("—" if r["production"] is None else f"{r['production']:.4f}") + " | "
                  + ("—" if r["delta"] is None else f"{r['delta']:+.4f}") + " |" for r in rows]
        lines.append("")
    return lines


def gate_state(result: dict[str, Any], evaluation: dict[str, Any] | None) -> Any:
    """What a flow returns: ``result`` as is, or a ``Failed`` state named ``Rejected`` carrying
    it when the gate rejected ``evaluation``."""
    if not rejected(evaluation):
        return result
    from prefect.states import Failed

    return Failed(name=REJECTED, message=reason(evaluation), data=result)


def result_of(state: Any) -> Any:
    """A subflow's result from its final state (``return_state=True``): the data of a
    ``Rejected`` run, else the result (a failed or crashed run raises its error, as before)."""
    if state.name == REJECTED:
        return state.result(raise_on_failure=False)
    return state.result()
