"""Training stands on :mod:`features`: fitting, evaluating, tracking and the CLI.

Rooms, from the bottom up (``make lint`` checks the order):

- :mod:`training.forecast` and :mod:`training.incentives`: model code, free of MLflow,
  independent of each other;
- :mod:`training.reports`: accuracy of recorded forecasts, the partner scorecard,
  training artifacts (plots and tables);
- :mod:`training.jobs`: fit -> log -> register -> gate -> promote in MLflow, tuning,
  and :func:`training.jobs.train_all`, which the CLI and the notebooks both call;
- :mod:`training.cli`: the ``partnercast`` command, the only code that parses flags and
  prints; its ``serve`` command is the one allowed edge into :mod:`serving`.
"""
