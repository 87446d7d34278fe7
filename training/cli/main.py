"""The ``partnercast`` command (see ../shared/CLI_CONTRACT.md).

Exit codes: 0 success; 2 bad input (invalid data, unknown flag value) with a
readable report on stderr; 1 anything else. Logs and progress go to stderr;
stdout carries only results.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from types import ModuleType

import pydantic

from features.settings import Settings

log = logging.getLogger("partnercast")

EXIT_OK, EXIT_FAILURE, EXIT_BAD_INPUT = 0, 1, 2


# -- flag value types (argparse turns their ValueError into exit 2) ------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value >= 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be a number of at least 0, got {text}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _horizon(text: str) -> int:
    value = _positive_int(text)
    if value > 4:
        raise argparse.ArgumentTypeError(f"must be 1 to 4 quarters, got {text}")
    return value


def _scenario(text: str) -> str:
    from features.world import UnknownScenario, get_scenario

    try:
        return get_scenario(text).name
    except UnknownScenario as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number in (0, 1], got {text!r}")
    return value


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a date as YYYY-MM-DD, got {text!r}") from None


def _dask(text: str) -> str:
    from features.distributed import parse_dask

    try:
        return parse_dask(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _dask_flag(p: argparse.ArgumentParser) -> None:
    """``--dask``: a contract extension on train, backtest, forecast and recommend."""
    p.add_argument(
        "--dask",
        type=_dask,
        default=None,
        metavar="SCHEDULER",
        help="build the feature frames per partition of partners on Dask, and train the "
        "forecaster's quantile boosters with lightgbm.dask: a scheduler address, or "
        "local[:N] for a LocalCluster of N workers (default 2); needs the optional extra "
        "(uv sync --extra dask); README, 'Beyond one machine'",
    )


def _month(text: str) -> int:
    value = _positive_int(text)
    if value > 12:
        raise argparse.ArgumentTypeError(f"must be a month from 1 to 12, got {text}")
    return value


# -- commands -------------------------------------------------------------------
def cmd_demo_data(args: argparse.Namespace, settings: Settings) -> int:
    from features.data import BadInput, write_folder_atomically
    from features.world import (
        DEFAULT_SCENARIO,
        extend_world,
        get_scenario,
        simulate_world,
        world_summary,
        write_world,
    )
    from features.world.simulate import default_parts, write_world_in_parts

    if args.extend is not None or args.plan is not None:
        if args.extend is None or args.plan is None:
            raise BadInput("--extend DIR and --plan FILE go together")
        if args.scenario is not None or args.partners is not None or args.parts is not None:
            raise BadInput(
                "--extend plays an existing world: --scenario, --partners and --parts do not apply"
            )
        world = extend_world(
            args.extend, args.plan, quarters=args.quarters or 1, seed=args.seed, out=args.out
        )
        print(f"extended {args.extend} by {args.quarters or 1} quarter(s) into {args.out}")
        for key, value in world_summary(world).items():
            print(f"{key}: {value}")
        return EXIT_OK
    scenario = get_scenario(args.scenario or DEFAULT_SCENARIO)  # the parser checked the name
    partners = args.partners or scenario.partners
    quarters = args.quarters or scenario.quarters
    log.info(
        "simulating scenario %s: %d partners x %d quarters (seed %d)",
        scenario.name,
        partners,
        quarters,
        args.seed,
    )
    parts = args.parts if args.parts is not None else default_parts(partners)
    if args.parts is not None or parts > 1:
        if parts > partners:
            raise BadInput(f"--parts {parts}: more parts than partners ({partners})")
        written: dict[str, object] = {}

        def write(tmp: Path) -> None:
            written.update(
                write_world_in_parts(
                    tmp,
                    partners=partners,
                    quarters=quarters,
                    seed=args.seed,
                    parts=parts,
                    params=scenario.params,
                )
            )

        write_folder_atomically(args.out, write)
        print(
            f"wrote demo dataset to {args.out} in {parts} Parquet part(s) per table "
            f"(ground truth in {args.out / '_truth'})"
        )
        for key, value in written.items():
            print(f"{key}: {value}")
        return EXIT_OK
    world = simulate_world(
        partners=partners, quarters=quarters, seed=args.seed, params=scenario.params
    )
    write_folder_atomically(args.out, lambda tmp: write_world(world, tmp))
    summary = world_summary(world)
    print(f"wrote demo dataset to {args.out} (ground truth in {args.out / '_truth'})")
    for key, value in summary.items():
        print(f"{key}: {value}")
    return EXIT_OK


def cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    from features.calendar import QuarterCalendar
    from features.data import summarize_dataset, validate_folder

    report = validate_folder(args.data)
    if not report.ok:
        print(report.format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    print(summarize_dataset(report.dataset, QuarterCalendar(settings.fy_start_month)))
    return EXIT_OK


# Command modules are imported in function bodies, only when their command runs (keeps
# ``--help`` and flag errors fast); plain imports, so the layer contracts see them.
def _forecast_commands() -> ModuleType:
    from training.cli import forecast_commands

    return forecast_commands


def _incentive_commands() -> ModuleType:
    from training.cli import incentive_commands

    return incentive_commands


def _kpi_commands() -> ModuleType:
    from training.cli import kpi_commands

    return kpi_commands


def _accuracy_commands() -> ModuleType:
    from training.cli import accuracy_commands

    return accuracy_commands


def _planner_commands() -> ModuleType:
    from training.cli import planner_commands

    return planner_commands


def _changes_command() -> ModuleType:
    from training.cli import changes_command

    return changes_command


def _what_if_command() -> ModuleType:
    from training.cli import what_if_command

    return what_if_command


def _experiment_commands() -> ModuleType:
    from training.cli import experiment_commands

    return experiment_commands


def _scorecard_command() -> ModuleType:
    from training.cli import scorecard_command

    return scorecard_command


def _serving_run() -> ModuleType:
    from serving import run  # the CLI's one allowed edge into serving/

    return run


def _lazy(
    load: Callable[[], ModuleType], name: str
) -> Callable[[argparse.Namespace, Settings], int]:
    """The handler ``name`` of the module ``load`` imports when the command runs."""

    def run(args: argparse.Namespace, settings: Settings) -> int:
        return getattr(load(), name)(args, settings)

    return run


# -- parser ----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="partnercast",
        description="Partner revenue forecasts, next-best incentives and partner ranking.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_: str, handler, *, data=False, as_of=False, fiscal=False):
        p = sub.add_parser(name, help=help_, description=help_)
        p.set_defaults(handler=handler)
        if data:
            p.add_argument("--data", type=Path, required=True, help="dataset folder (contract)")
        if as_of:
            p.add_argument(
                "--as-of",
                type=_iso_date,
                default=None,
                help="use only what was known on this date (default: latest date in the data)",
            )
        if data or fiscal:
            p.add_argument(
                "--fy-start-month",
                type=_month,
                default=None,
                help="first month of the fiscal year, 1-12 (default 1, or "
                "PARTNERCAST_FY_START_MONTH)",
            )
        return p

    p = command(
        "demo-data", "write a synthetic dataset with ground truth under DIR/_truth/", cmd_demo_data
    )
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--scenario",
        type=_scenario,
        default=None,
        help="a named world (docs/scenarios.md; an unknown name lists them); default: demo",
    )
    p.add_argument(
        "--partners", type=_positive_int, default=None, help="default: the scenario's (2000)"
    )
    p.add_argument(
        "--quarters", type=_positive_int, default=None, help="default: the scenario's (20)"
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--parts",
        type=_positive_int,
        default=None,
        metavar="K",
        help="draw the world in K parts of partners, one at a time, and write each table as "
        "K Parquet parts (<table>/part-*.parquet); default 1 (one CSV per table) up to "
        "200,000 partners, one part per 100,000 above",
    )
    p.add_argument(
        "--extend",
        type=Path,
        default=None,
        metavar="DIR",
        help="play a world written by demo-data forward by --quarters (default 1) under "
        "--plan, writing it to --out (docs/experiments.md)",
    )
    p.add_argument(
        "--plan",
        type=Path,
        default=None,
        metavar="FILE",
        help="with --extend: each partner's decision (experiment-plan's or recommend's CSV: "
        "partner_id, arm or incentive, randomized)",
    )

    command("validate", "check a dataset against the data contract", cmd_validate, data=True)

    p = command(
        "train",
        "train, log to MLflow, promote champions behind the quality gate",
        _lazy(_forecast_commands, "cmd_train"),
        data=True,
        as_of=True,
    )
    p.add_argument(
        "--no-backtest",
        action="store_true",
        help="fit the forecaster without a rolling-origin backtest (for histories too short "
        "for one; promoted only over a champion that was not backtested either)",
    )
    _dask_flag(p)
    p = command(
        "backtest",
        "rolling-origin backtest of the forecaster against baselines",
        _lazy(_forecast_commands, "cmd_backtest"),
        data=True,
    )
    p.add_argument("--folds", type=_positive_int, default=4)
    p.add_argument("--horizon", type=_horizon, default=4)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--ledger",
        action="store_true",
        help="also record every fold's forecasts in the forecast ledger (a replay that "
        "'partnercast accuracy' can score)",
    )
    _dask_flag(p)
    p = command(
        "forecast",
        "quarterly revenue forecasts from the champion",
        _lazy(_forecast_commands, "cmd_forecast"),
        data=True,
        as_of=True,
    )
    p.add_argument("--horizon", type=_horizon, default=4)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--aggregates", type=Path, default=None)
    p.add_argument(
        "--no-ledger",
        action="store_true",
        help="do not record the forecasts in the forecast ledger",
    )
    _dask_flag(p)
    p = command(
        "recommend",
        "next-best incentive per partner for the next quarter",
        _lazy(_incentive_commands, "cmd_recommend"),
        data=True,
        as_of=True,
    )
    p.add_argument("--budget", type=_non_negative_float, default=None)
    p.add_argument("--out", type=Path, required=True)
    _dask_flag(p)
    p = command(
        "rank",
        "partners ranked by the value of investing in them next quarter",
        _lazy(_incentive_commands, "cmd_rank"),
        data=True,
        as_of=True,
    )
    p.add_argument("--top", type=_positive_int, default=None)
    p.add_argument("--out", type=Path, required=True)
    p = command(
        "tune",
        "Optuna search of the forecaster's hyper-parameters",
        _lazy(_forecast_commands, "cmd_tune"),
        data=True,
    )
    p.add_argument("--trials", type=_positive_int, default=20)
    p.add_argument("--folds", type=_positive_int, default=4)
    p = command("serve", "the HTTP API over the champion models", _lazy(_serving_run, "cmd_serve"))
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=_positive_int, default=None)
    p.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback --host without PARTNERCAST_API_KEY (anyone who can "
        "reach it can call the API)",
    )
    p = command(
        "kpis",
        "channel KPIs per partner or group",
        _lazy(_kpi_commands, "cmd_kpis"),
        data=True,
        as_of=True,
    )
    p.add_argument(
        "--group-by", choices=["partner", "region", "tier", "partner_type"], default="partner"
    )
    p.add_argument("--out", type=Path, required=True)
    p = command(
        "accuracy",
        "realised accuracy of past forecasts from the forecast ledger",
        _lazy(_accuracy_commands, "cmd_accuracy"),
        data=True,
    )
    p.add_argument("--out", type=Path, default=None, help="also write the report as CSV")
    p.add_argument(
        "--coverage-floor",
        type=_non_negative_float,
        default=0.70,
        help="flag segments whose 80%% interval coverage is below this (default 0.70)",
    )
    p.add_argument("--model-version", default=None, help="only forecasts of this model version")
    p.add_argument(
        "--fva",
        type=Path,
        default=None,
        help="also write forecast value added (naive -> model -> final) as CSV",
    )
    p = command("override", "planners' overrides of the forecast", None)
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    q = actions.add_parser("add", help="set the P50 of a partner or group for one quarter")
    q.set_defaults(handler=_lazy(_planner_commands, "cmd_override_add"))
    q.add_argument("--partner", default=None, help="a partner id; or --group-by")
    q.add_argument("--group-by", choices=["region", "tier", "partner_type", "total"])
    q.add_argument("--group", default=None, help="the group's value (not for total)")
    q.add_argument("--quarter", type=_iso_date, required=True, help="first day of the quarter")
    q.add_argument("--p50", type=_finite_float, required=True)
    q.add_argument("--reason", required=True, help="why the model is wrong (required)")
    q.add_argument("--author", default=None, help="default: your login name")
    q = actions.add_parser("list", help="the active overrides")
    q.set_defaults(handler=_lazy(_planner_commands, "cmd_override_list"))
    q.add_argument("--out", type=Path, default=None, help="write them as CSV")
    q.add_argument("--all", action="store_true", help="also the removed and replaced ones")
    q = actions.add_parser("remove", help="remove an override (it stays in the history)")
    q.set_defaults(handler=_lazy(_planner_commands, "cmd_override_remove"))
    q.add_argument("override_id")
    q.add_argument("--author", default=None, help="default: your login name")
    p = command(
        "changes",
        "what moved in the forecast since a date, and why, in money",
        _lazy(_changes_command, "cmd_changes"),
        data=True,
        as_of=True,
    )
    p.add_argument("--since", type=_iso_date, required=True)
    p.add_argument(
        "--group-by",
        choices=["partner", "region", "tier", "partner_type", "total"],
        default="partner",
    )
    p.add_argument("--quarter", type=_iso_date, default=None, help="default: the next quarter")
    p.add_argument("--top", type=_positive_int, default=None, help="only the biggest moves")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--snapshots", type=Path, default=None, help="the forecast week by week")
    p = command(
        "what-if",
        "expected change in next quarter's group forecasts, cost and net of an incentive plan",
        _lazy(_what_if_command, "cmd_what_if"),
        data=True,
        as_of=True,
    )
    plan = p.add_mutually_exclusive_group(required=True)
    plan.add_argument(
        "--plan",
        type=Path,
        help="CSV: incentive, and partner_id or region/tier/partner_type (docs/planner.md)",
    )
    plan.add_argument("--recommended", action="store_true", help="the recommender's own plan")
    p.add_argument(
        "--budget",
        type=_non_negative_float,
        default=None,
        help="cost limit: the plan's highest-net rows that fit are kept (others dropped)",
    )
    p.add_argument("--out", type=Path, required=True, help="one row per group")
    p.add_argument("--partners", type=Path, default=None, help="also each partner's incentive")
    p.add_argument("--rows", type=Path, default=None, help="also each plan row, kept or dropped")
    p = command(
        "experiment-plan",
        "randomized arms for next quarter: who is drawn for which incentive or the holdout",
        _lazy(_experiment_commands, "cmd_experiment_plan"),
        data=True,
        as_of=True,
    )
    p.add_argument("--share", type=_share, required=True, help="share of partners drawn, in (0, 1]")
    p.add_argument(
        "--budget",
        type=_non_negative_float,
        default=None,
        help="cost limit of the drawn arms (the draw shrinks, strata kept proportional)",
    )
    p.add_argument("--seed", type=int, default=None, help="the draw's seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="partner_id, arm, stratum, randomized")
    p.add_argument(
        "--incentives",
        type=Path,
        default=None,
        help="also the plan as next quarter's incentives rows (DATA_CONTRACT.md)",
    )
    p.add_argument("--mde", type=Path, default=None, help="also the minimum detectable effects")
    p = command(
        "experiment-report",
        "effects measured on randomized rows against the none holdout, and the calibration",
        _lazy(_experiment_commands, "cmd_experiment_report"),
        data=True,
    )
    p.add_argument(
        "--quarter", type=_iso_date, default=None, help="one tested quarter (default: every one)"
    )
    p.add_argument(
        "--pooled",
        action="store_true",
        help="one effect per incentive and segment over all quarters read (quarter effects)",
    )
    p.add_argument("--out", type=Path, required=True)
    p = command(
        "api-key",
        "make a new API key and print the entry for the PARTNERCAST_API_KEYS file",
        _lazy(_serving_run, "cmd_api_key"),
    )
    p.add_argument("--name", required=True, help="who the key is for")
    p.add_argument("--role", choices=["reader", "planner", "admin"], required=True)
    p = command(
        "scorecard",
        "one partner's scorecard plot",
        _lazy(_scorecard_command, "cmd_scorecard"),
        as_of=True,
        fiscal=True,
    )
    p.add_argument("--partner", required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dataset folder (contract); default PARTNERCAST_DATA_DIR or data/demo",
    )
    p.add_argument(
        "--quarters", type=_positive_int, default=8, help="quarters of history shown (default 8)"
    )
    return parser


def _settings_from(args: argparse.Namespace) -> Settings:
    overrides = {}
    if getattr(args, "fy_start_month", None) is not None:
        overrides["fy_start_month"] = args.fy_start_month
    if getattr(args, "data", None) is not None:
        overrides["data_dir"] = args.data
    return Settings(**overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``partnercast`` console command; returns the exit code."""
    args = build_parser().parse_args(argv)  # --help and bad flags exit here, before imports
    from features.data import BadInput, DataContractError
    from features.scoring import NoChampionError

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # stderr stays readable
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = _settings_from(args)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "settings"
            print(
                f"partnercast: setting {field} (environment variable "
                f"PARTNERCAST_{field.upper()}): {err['msg']}, got {err.get('input')!r}",
                file=sys.stderr,
            )
        return EXIT_BAD_INPUT
    try:
        return args.handler(args, settings)
    except DataContractError as exc:
        print(exc.report.format(), file=sys.stderr)
        return EXIT_BAD_INPUT
    except BadInput as exc:
        print(f"partnercast {args.command}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except NoChampionError as exc:
        print(f"partnercast {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("partnercast: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:
        from features.distributed import SchedulerUnreachable
        from training.jobs.tracking import StoreNotWritable, storage_failure

        if isinstance(exc, SchedulerUnreachable):
            print(f"partnercast {args.command}: {exc}", file=sys.stderr)
            return EXIT_FAILURE

        reason = storage_failure(exc)
        if isinstance(exc, StoreNotWritable) or reason is not None:
            # a disk refusing a write is the operator's to fix: say so in one line
            log.debug("partnercast %s: a write failed", args.command, exc_info=True)
            message = (
                str(exc)
                if isinstance(exc, StoreNotWritable)
                else (
                    f"a write to disk failed ({reason}); the MLflow store is "
                    f"{settings.resolved_tracking_uri}: nothing was promoted, the champion is "
                    "unchanged (--verbose shows the traceback)"
                )
            )
            print(f"partnercast {args.command}: {message}", file=sys.stderr)
            return EXIT_FAILURE
        log.exception("partnercast %s failed", args.command)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
