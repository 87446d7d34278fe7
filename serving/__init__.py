"""The HTTP API over the champion models: stands on :mod:`features` and the MLflow
registry, never imports :mod:`training`.

- ``service``: the BentoML service (``serving.service:PartnerCast``), thin endpoints;
- ``schemas``: request and answer bodies, validated before any model runs (4xx);
- ``answers``: each endpoint's one library call; ``http``: middleware (auth, the error
  shape, body limits) and extra routes; ``champions`` and ``forecast_table``: the loaded
  champions and their refresh; ``kpis``: ``POST /kpis`` from the dataset folder, read
  by ``dataset_child`` in a child process; ``heap`` and ``traffic``: no garbage-collector
  pauses on the request path;
  ``what_if``: ``POST /what-if``, an incentive plan's expected change of the forecasts;
- ``ledger_writer``: records answered forecasts off the request path; ``settings``: the
  service's settings; ``run``: ``partnercast serve``; ``bento``: ``make bento``.

Nothing is exported here: BentoML imports ``serving.service`` by name.
"""
