"""What one ``adtech sync`` pass did: its days, checks, runs and errors, for the CLI to print."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    metadata: dict
    blocking: bool = True  # False for WARN-severity results: reported, never a reason to stop


@dataclass
class SyncReport:
    days_loaded: list[date] = field(default_factory=list)
    days_outside_partitions: list[date] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    reasons: dict[date, str] = field(default_factory=dict)
    dead_runs: list[str] = field(default_factory=list)
    sources_observed: list[str] = field(default_factory=list)
    kpis_refreshed: bool = False

    @property
    def ok(self) -> bool:
        return self.kpis_refreshed and not self.failed_checks and not self.errors

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        """Failed ERROR-severity checks: they stop the KPI refresh and fail the pass."""
        return [c for c in self.checks if not c.passed and c.blocking]

    @property
    def warnings(self) -> list[CheckOutcome]:
        return [c for c in self.checks if not c.passed and not c.blocking]
