"""The fault suite: outages and kills against the Procfile's processes, summed up in one table.

Contract for every test file here: the session-scoped `fault_report` fixture has
`add(scenario: str, measured: str, ok: bool)`; at the end of the run (`make test-faults`, and
`make test`, which collects tests/faults/ too) the terminal summary prints every row as
`scenario | measured | ok`. `procfile_stack` is one ProcfileStack (tests/faults/harness.py) for the
session: its own PostgreSQL and Redis, and the Procfile's web, worker and scheduler.
"""
import pytest

from tests.faults.harness import ProcfileStack


class FaultReport:
    """Rows of the fault table, in the order the scenarios ran."""

    def __init__(self):
        self.rows: list[tuple[str, str, bool]] = []

    def add(self, scenario: str, measured: str, ok: bool) -> None:
        """Record one scenario's figures; `ok` says whether its guarantee held."""
        self.rows.append((str(scenario), str(measured), bool(ok)))

    def table(self) -> list[str]:
        headers = ("scenario", "measured", "ok")
        rows = [(s, m, "yes" if ok else "NO") for s, m, ok in self.rows]
        widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(3)]
        line = lambda r: " | ".join(cell.ljust(widths[i]) for i, cell in enumerate(r)).rstrip()  # noqa: E731
        return [line(headers), "-+-".join("-" * w for w in widths), *map(line, rows)]


_REPORT = FaultReport()


@pytest.fixture(scope="session")
def fault_report() -> FaultReport:
    """The session's fault table (see the module docstring)."""
    return _REPORT


@pytest.fixture(scope="session")
def procfile_stack():
    """PostgreSQL, Redis and the Procfile's processes, started once for the fault suite."""
    stack = ProcfileStack()
    try:
        stack.start_all()
        yield stack
    finally:
        stack.close()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the fault table once, after the run's own summary sections."""
    if not _REPORT.rows:
        return
    terminalreporter.write_sep("=", "fault suite: scenarios and figures")
    for line in _REPORT.table():
        terminalreporter.write_line(line)
