"""The synthetic channel world behind ``features.world.simulate``.

The modules here split the simulation by what they hold: ``params`` (every knob,
in one frozen dataclass), ``partners`` (who the partners are and their latent
traits), ``latent`` (the quarterly state: demand, engagement, win rates,
incentives), ``events`` (the rows of the five contract tables), ``truth`` (the
ground truth and the summary) and ``output`` (frames and files). The public entry
point is :mod:`features.world.simulate`.
"""
