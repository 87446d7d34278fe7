"""Suite-wide test settings.

Hypothesis' per-example deadline is off: property tests assert behaviour, and speed
targets live in benchmarks/, so a busy machine must not fail a correct test (a 200 ms
deadline failed ``test_every_day_lies_in_its_quarter`` at 422 ms on two loaded cores).
"""

from hypothesis import settings

settings.register_profile("partnercast", deadline=None)
settings.load_profile("partnercast")

from tests.postgres import postgres_server  # noqa: E402, F401  (the session's PostgreSQL)
