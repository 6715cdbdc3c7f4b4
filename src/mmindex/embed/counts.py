"""What became of the items a run looked at: one counters type that adds itself up.

A group's worker counts into a :class:`Counts`; the run's result is the sum of its groups'
(:meth:`Counts.add`); the progress callback sees a :class:`Progress` snapshot of the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

_NUMBERS = ("seen", "embedded", "skipped_unchanged", "reused_staged", "truncated", "ocr_skipped")


@dataclass(kw_only=True)
class Counts:
    """Items seen, embedded, skipped (unchanged, or reused from staging), embedded truncated,
    and quarantined."""

    seen: int = 0
    embedded: int = 0
    skipped_unchanged: int = 0
    reused_staged: int = 0
    truncated: int = 0  # embedded from their first tokens: longer than the model reads
    ocr_skipped: int = 0  # embedded without figure text: the run's ocr_budget_s was spent
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        return sum(self.quarantine_reasons.values())

    def count_bad(self, reason: str) -> None:
        """One more item quarantined for ``reason``."""
        self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + 1

    def add(self, other: Counts) -> None:
        """Add ``other``'s counts to these (in place)."""
        for name in _NUMBERS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.quarantine_reasons.items():
            self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + n

    def counts(self) -> Counts:
        """A copy of the counts alone (subclasses carry more)."""
        return Counts(**{f.name: getattr(self, f.name) for f in fields(Counts)}
                      | {"quarantine_reasons": dict(self.quarantine_reasons)})


@dataclass(frozen=True)
class Progress:
    """Where a run stands: items looked at so far (of ``total``) and what became of them."""

    done: int
    total: int | None
    counts: Counts

    @property
    def embedded(self) -> int:
        return self.counts.embedded

    @property
    def skipped(self) -> int:
        return self.counts.skipped_unchanged + self.counts.reused_staged

    @property
    def quarantined(self) -> int:
        return self.counts.quarantined
