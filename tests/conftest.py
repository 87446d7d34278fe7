"""Suite-wide test settings.

Hypothesis' per-example deadline is off: property tests assert behaviour, and speed
targets live in benchmarks/, so a busy machine must not fail a correct test (a 200 ms
deadline failed ``test_every_day_lies_in_its_quarter`` at 422 ms on two loaded cores).
"""

import pytest
from hypothesis import settings

settings.register_profile("partnercast", deadline=None)
settings.load_profile("partnercast")

from tests.postgres import postgres_server  # noqa: E402, F401  (the session's PostgreSQL)


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Fail a grouped test when ``--dist loadgroup`` did not keep its group on one worker.

    pytest-xdist marks a grouped test by adding ``@group`` to its node id on each worker;
    pytest 9.2 ignores that change, so the groups were silently spread over the workers:
    a module's server started once per worker and a test that leaned on an earlier one's
    state met a fresh server (flaky, with no error saying why).
    """
    if not item.config.getoption("loadgroup", default=False):
        return
    if item.get_closest_marker("xdist_group") and "@" not in item.nodeid:
        pytest.fail(
            f"--dist loadgroup has no effect with pytest {pytest.__version__} and this "
            "pytest-xdist (the test lost its xdist_group): install the versions in uv.lock "
            "(make venv)",
            pytrace=False,
        )
