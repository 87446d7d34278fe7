"""The planners' web app, served by ``partnercast serve`` under ``/app``.

Four pages, each answering one question, over the same calls as the API:

- ``views``: :class:`Desk`, what each page asks of the service (the endpoints' own
  library calls through :meth:`serving.http.ServiceState.answer`);
- ``charts``: the Plotly figures (fan charts, bars with intervals, drivers);
- ``money``: numbers as money with ``PARTNERCAST_CURRENCY_SYMBOL``, shares and ratios;
- ``auth``: signing in with an API key, kept for the browser session;
- ``site``: :class:`PlannerApp`, the routes, templates and the app's own assets.
"""

from serving.app.site import PlannerApp

__all__ = ["PlannerApp"]
