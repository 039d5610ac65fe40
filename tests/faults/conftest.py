"""The fault suite's report: every scenario adds a row (scenario, what was measured, ok), printed as one table.

Minimal form of the harness's `fault_report` fixture; the tests assert as well, so a leak fails the run.
"""
import pytest

from tests.setup.conftest import csrf_of, html, login, make_user, sign_in  # noqa: F401


class FaultReport:
    """Rows of (scenario, measured, ok), printed at the end of the session."""

    def __init__(self):
        self.rows: list[tuple[str, str, bool]] = []

    def add(self, scenario: str, measured: str, ok: bool) -> None:
        """Record one scenario's outcome."""
        self.rows.append((scenario, measured, ok))

    def table(self) -> str:
        """The rows as a plain-text table."""
        width = max([len(r[0]) for r in self.rows] + [8])
        lines = [f"{'scenario'.ljust(width)}  ok    measured"]
        lines += [f"{s.ljust(width)}  {'yes' if ok else 'NO '}   {m}" for s, m, ok in self.rows]
        return "\n".join(lines)


@pytest.fixture(scope="session")
def fault_report(request):
    """The session's FaultReport; its table is printed when the run ends."""
    report = FaultReport()
    yield report
    if report.rows:
        terminal = request.config.pluginmanager.get_plugin("terminalreporter")
        text = "\nfault suite\n" + report.table() + "\n"
        if terminal is not None:
            terminal.write_line(text)
        else:
            print(text)
