"""The synthetic channel worlds: contract tables plus the ground truth a real export lacks.

Enter through this package: :func:`simulate_world` (a :class:`World` from
:class:`WorldParams`), :func:`write_world` (the contract files and ``_truth/``),
:func:`world_summary`, :func:`extend_world` (a written world played forward
by quarters under given decisions, :mod:`features.world.forward`), and the named
worlds: :data:`SCENARIOS` (``demo`` and six others that differ in how revenue and
incentives work), looked up with :func:`get_scenario`. ``extend`` and ``forward`` play
a world forward.
The modules split the simulation by what they hold: ``params`` (every knob, in one
frozen dataclass), ``partners`` (who the partners are and their latent traits),
``latent`` (the quarterly state: demand, engagement, win rates, incentives), ``deals``
and ``activities`` (the rows of the contract tables), ``tables`` (the frames),
``truth`` (the ground truth), ``summary`` and ``output`` (frames and files),
``scenarios`` (the named worlds); ``simulate`` runs them in order.
"""

from features.world.extend import extend_world
from features.world.forward import PlayedQuarter
from features.world.params import IncentiveSpec, WorldParams
from features.world.scenarios import (
    DEFAULT_SCENARIO,
    SCENARIOS,
    Scenario,
    UnknownScenario,
    get_scenario,
)
from features.world.simulate import World, simulate_world, world_summary, write_world

__all__ = [
    "DEFAULT_SCENARIO",
    "SCENARIOS",
    "IncentiveSpec",
    "PlayedQuarter",
    "Scenario",
    "UnknownScenario",
    "World",
    "WorldParams",
    "extend_world",
    "get_scenario",
    "simulate_world",
    "world_summary",
    "write_world",
]
