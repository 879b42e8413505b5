"""What an import found and did, in words a department's data manager can act on."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from geoportal.errors import DomainError

# Problems listed per check; the count says how many more there were.
PROBLEMS_LISTED_PER_CHECK = 50


@dataclass
class Problem:
    layer: str
    feature: str
    message: str

    def __str__(self) -> str:
        return f"{self.layer} {self.feature}: {self.message}"


@dataclass
class ImportReport:
    source: str
    path: str
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    problems_not_listed: int = 0
    # What the import did to the delivery that is not a problem (e.g. a repaired geometry).
    notes: list[str] = field(default_factory=list)
    quarantine: str | None = None  # the folder that keeps a rejected delivery and this report
    # A dry run's report reads like an applied one's (its counts are what the import would do): its first line says
    # that nothing was applied, wherever the report is read (the job's admin page and API, ``manage.py import``).
    dry_run: bool = False
    # Whether the apply's transaction committed: what fails after it (ANALYZE, dropping the staging tables) cannot
    # undo it, and must not be reported as if nothing had been applied (importers/base.py).
    applied: bool = False

    def add_problems(self, layer: str, rows: list[tuple[str, str]], total: int) -> None:
        self.problems.extend(Problem(layer, feature, message) for feature, message in rows)
        self.problems_not_listed += max(0, total - len(rows))

    def count(self, layer: str, kind: str, number: int) -> None:
        self.counts.setdefault(layer, {})[kind] = self.counts.get(layer, {}).get(kind, 0) + number

    @property
    def accepted(self) -> bool:
        return not self.problems

    def as_text(self) -> str:
        outcome = "accepted" if self.accepted else "REJECTED"
        if self.dry_run:
            outcome += " (dry run: nothing was applied)"
        lines = [f"Import of {self.source} from {self.path}: {outcome}"]
        for layer, counts in self.counts.items():
            lines.append(f"  {layer}: " + ", ".join(f"{kind} {number}" for kind, number in counts.items()))
        lines.extend(f"  ✗ {problem}" for problem in self.problems)
        if self.problems_not_listed:
            lines.append(f"  … and {self.problems_not_listed} more problems")
        lines.extend(f"  • {note}" for note in self.notes)
        if self.quarantine:
            lines.append(f"  Kept in quarantine: {self.quarantine}")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {**asdict(self), "accepted": self.accepted}


class ImportRejected(DomainError):
    """The delivery was refused; nothing was changed. The report names each bad feature."""

    status = 422
    code = "ImportRejected"

    def __init__(self, report: ImportReport) -> None:
        super().__init__(report.as_text())
        self.report = report
