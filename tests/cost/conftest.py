"""Cost fixtures: the report fixtures (seeded space, logins, report keys)."""
from tests.report.conftest import seeded  # noqa: F401 (fixture)
from tests.dashboard.conftest import login  # noqa: F401 (fixture)
