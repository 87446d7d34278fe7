"""The ground floor of partnercast: everything training and serving both need.

Rooms, from the bottom up (each imports only the ones below it; ``make lint`` checks):

- :mod:`features.names`, :mod:`features.calendar`, :mod:`features.settings`: shared
  names (the ``none`` incentive, the ``champion`` alias, model names), fiscal quarters,
  the one settings object.
- :mod:`features.data`: the data contract (pandera schemas), reading, loading and
  validating an export folder, and atomic output files.
- :mod:`features.families`: one pure module per feature family, on point-in-time windows.
- :mod:`features.spec` and :mod:`features.frames`: the learned feature spec and the
  model-ready point-in-time frames built from the families.
- :mod:`features.scoring`: what a logged model runs at request time (never fits).
- :mod:`features.reporting` (forecast ledger, channel KPIs) and :mod:`features.world`
  (the synthetic channel worlds and their ground truth), side by side at the top.

Import from a room's front door (its ``__init__``); this top level exports nothing so
that importing one room never loads the others.
"""
