"""Batching: budgets hold, nothing is lost, windows are respected, order comes back."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmindex.embed.batching import Budget, iter_batches, pack
from mmindex.errors import ConfigError
from mmindex.items import Cost

costs_st = st.lists(
    st.builds(Cost, tokens=st.integers(1, 600), pixels=st.integers(0, 5).map(lambda k: k * 40_000)),
    max_size=120,
)
budgets_st = st.fixed_dictionaries(
    {
        "token_budget": st.integers(64, 4096),
        "pixel_budget": st.integers(1, 400_000),
        "max_items": st.integers(1, 40),
        "window": st.integers(1, 50),
    }
)
FAST = settings(max_examples=60, deadline=None)


def padded(costs: list[Cost], batch: list[int]) -> int:
    return len(batch) * max(costs[i].tokens for i in batch)


@FAST
@given(costs=costs_st, budget=budgets_st)
def test_pack_keeps_every_item_once_and_respects_budgets_and_windows(costs, budget):
    batches = pack(costs, **budget)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(costs)))
    b = Budget(**budget)
    for batch in batches:
        assert 1 <= len(batch) <= budget["max_items"]
        assert len({i // budget["window"] for i in batch}) == 1  # never spans two windows
        over = padded(costs, batch) > budget["token_budget"] or (
            sum(costs[i].pixels for i in batch) > budget["pixel_budget"]
        )
        if over:  # only a lone item that alone is over budget may exceed
            assert len(batch) == 1 and b.exceeds(costs[batch[0]])


@FAST
@given(costs=costs_st, budget=budgets_st)
def test_iter_batches_matches_pack_and_reports_oversized(costs, budget):
    entries = [f"item-{i}" for i in range(len(costs))]
    batches = list(iter_batches(entries, lambda e: costs[int(e[5:])], **budget))
    assert [b.seqs for b in batches] == pack(costs, **budget)
    for b in batches:
        assert b.entries == [entries[s] for s in b.seqs]
        assert b.padded_tokens == padded(costs, b.seqs)
        assert b.pixels == sum(costs[s].pixels for s in b.seqs)
        assert b.oversized == (len(b) == 1 and Budget(**budget).exceeds(costs[b.seqs[0]]))


@FAST
@given(costs=costs_st, budget=budgets_st)
def test_every_entry_lands_in_exactly_one_batch(costs, budget):
    entries = list(range(len(costs)))
    got = [e for b in iter_batches(entries, costs.__getitem__, **budget) for e in b.entries]
    assert sorted(got) == entries


@FAST
@given(
    tokens=st.lists(st.integers(1, 512), min_size=1, max_size=96),
    max_items=st.integers(1, 8),
    windows=st.integers(1, 4),
)
def test_sorting_never_pads_more_than_input_order(tokens, max_items, windows):
    # Full batches of max_items (token budget not binding): sorted packing is optimal, so it can
    # only beat cutting the same window in input order.
    n = len(tokens) - len(tokens) % max_items
    if n == 0:
        return
    costs = [Cost(t) for t in tokens[:n]]
    window = max_items * max(1, n // max_items // windows)
    sorted_batches = pack(costs, token_budget=10**9, pixel_budget=1, max_items=max_items,
                          window=window)
    unsorted = [list(range(s, min(s + max_items, w + window, n)))
                for w in range(0, n, window) for s in range(w, min(w + window, n), max_items)]
    assert sum(padded(costs, b) for b in sorted_batches) <= sum(padded(costs, b) for b in unsorted)


def test_similar_lengths_are_batched_together():
    costs = [Cost(t) for t in [10, 200, 12, 190, 11, 210]]
    batches = pack(costs, token_budget=10_000, pixel_budget=1, max_items=3, window=6)
    assert batches == [[5, 1, 3], [2, 4, 0]]  # largest first, the long ones share a batch


def test_padded_token_budget_cuts_batches():
    costs = [Cost(100)] * 5
    batches = pack(costs, token_budget=250, pixel_budget=1, max_items=64, window=100)
    assert [len(b) for b in batches] == [2, 2, 1]


def test_pixel_budget_cuts_batches_and_a_huge_image_runs_alone():
    costs = [Cost(50, 300_000), Cost(50, 300_000), Cost(60, 5_000_000), Cost(40, 0)]
    batches = list(iter_batches(range(4), costs.__getitem__, token_budget=10_000,
                                pixel_budget=1_000_000, max_items=8, window=8))
    assert [(b.seqs, b.oversized) for b in batches] == [([2], True), ([0, 1, 3], False)]
    assert batches[1].pixels == 600_000 and batches[1].padded_tokens == 150


def test_iter_batches_reads_one_window_at_a_time():
    pulled = []

    def source():
        for i in range(10):
            pulled.append(i)
            yield i

    it = iter_batches(source(), lambda i: Cost(i + 1), token_budget=100, pixel_budget=1,
                      max_items=2, window=4)
    first = next(it)
    assert first.seqs == [3, 2] and len(pulled) == 4  # nothing beyond the first window read


def test_bad_budget_is_a_config_error_with_help():
    with pytest.raises(ConfigError, match="Help:"):
        pack([Cost(1)], token_budget=0, pixel_budget=1, max_items=1, window=1)
