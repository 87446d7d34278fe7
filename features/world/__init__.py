"""The synthetic channel worlds behind ``features.world.simulate``.

The modules here split the simulation by what they hold: ``params`` (every knob,
in one frozen dataclass), ``partners`` (who the partners are and their latent
traits), ``latent`` (the quarterly state: demand, engagement, win rates,
incentives), ``deals``/``activities``/``tables`` (the rows of the five contract
tables), ``truth`` (the ground truth), ``summary`` and ``output`` (frames and
files), and ``scenarios`` (the named worlds: ``demo`` and six others that differ
in how revenue and incentives work). The public entry point is
:mod:`features.world.simulate`; scenarios are looked up here.
"""

from features.world.scenarios import (
    DEFAULT_SCENARIO,
    SCENARIOS,
    Scenario,
    UnknownScenario,
    get_scenario,
)

__all__ = ["DEFAULT_SCENARIO", "SCENARIOS", "Scenario", "UnknownScenario", "get_scenario"]
