"""Fault-suite fixtures (minimal): `fault_report` collects one row per scenario and prints the table.

Interface kept by the full fault harness: a session-scoped `fault_report` with
`add(scenario: str, measured: str, ok: bool)`.
"""
from dataclasses import dataclass, field

import pytest


@dataclass
class FaultReport:
    """The fault suite's table: scenario, what was measured, and whether the guarantee held."""
    rows: list[tuple[str, str, bool]] = field(default_factory=list)

    def add(self, scenario: str, measured: str, ok: bool) -> None:
        """Record one scenario's figures."""
        self.rows.append((scenario, measured, ok))

    def table(self) -> str:
        """The rows as a fixed-width text table."""
        width = max([len("scenario")] + [len(s) for s, _, _ in self.rows])
        lines = [f"{'scenario'.ljust(width)}  ok    measured", "-" * (width + 40)]
        lines += [f"{s.ljust(width)}  {'yes' if ok else 'NO '}   {m}" for s, m, ok in self.rows]
        return "\n".join(lines)


_REPORT = FaultReport()


@pytest.fixture(scope="session")
def fault_report() -> FaultReport:
    """The session's fault table, printed in the run's summary."""
    return _REPORT


def pytest_terminal_summary(terminalreporter) -> None:
    """Print the fault table after the tests."""
    if _REPORT.rows:
        terminalreporter.write_sep("=", "fault suite")
        terminalreporter.write_line(_REPORT.table())
