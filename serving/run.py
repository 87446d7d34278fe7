"""Start the HTTP API in the foreground: ``partnercast serve`` calls :func:`cmd_serve`.

BentoML runs the service in a worker process that builds its own settings from the
environment, so :func:`serve` writes the values it was given there first.
``python -m serving.run [--host H] [--port P]`` does the same without the CLI.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
from pathlib import Path

from features.data import BadInput
from features.settings import Settings
from serving.identity import KeyFileError, key_hash, load_keys, new_key
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SERVICE = "serving.service:PartnerCast"


def worker_environment(settings: ServingSettings) -> dict[str, str]:
    """The ``PARTNERCAST_*``/``MLFLOW_*`` variables that carry ``settings`` to the worker."""
    env = {
        "PARTNERCAST_STORE_DIR": str(settings.store_dir.resolve()),
        "PARTNERCAST_MAX_BATCH": str(settings.max_batch),
        "PARTNERCAST_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "PARTNERCAST_RELOAD_SECONDS": str(settings.reload_seconds),
        "PARTNERCAST_MODEL_SOURCE": settings.model_source,
        "PARTNERCAST_DATA_DIR": str(settings.data_dir.resolve()),
        "PARTNERCAST_FY_START_MONTH": str(settings.fy_start_month),
        "PARTNERCAST_SEED": str(settings.seed),
        "PARTNERCAST_LEDGER_URL": settings.resolved_ledger_url,
        "PARTNERCAST_RECORD_FORECASTS": str(settings.record_forecasts).lower(),
        "PARTNERCAST_MDF_INCENTIVE": settings.mdf_incentive,
        "PARTNERCAST_OVERRIDES_REFRESH_SECONDS": str(settings.overrides_refresh_seconds),
        "PARTNERCAST_CURRENCY_SYMBOL": settings.currency_symbol,
    }
    if settings.api_keys is not None:
        env["PARTNERCAST_API_KEYS"] = str(settings.api_keys.resolve())
    if settings.tracking_uri:
        env["MLFLOW_TRACKING_URI"] = settings.tracking_uri
    if settings.api_key is not None:
        env["PARTNERCAST_API_KEY"] = settings.api_key.get_secret_value()
    return env


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name other than localhost may resolve to anything


def check_exposure(host: str, api_key_set: bool, insecure: bool) -> None:
    """Refuse to serve without auth beyond loopback, unless asked to (``--insecure``)."""
    if not api_key_set and not is_loopback(host) and not insecure:
        raise BadInput(
            f"refusing to serve on {host} without an API key: anyone who can reach it could "
            "call the API. Set PARTNERCAST_API_KEY or PARTNERCAST_API_KEYS, serve on 127.0.0.1, "
            "or pass --insecure"
        )


def serve(
    host: str | None = None,
    port: int | None = None,
    settings: Settings | None = None,
    *,
    insecure: bool = False,
) -> int:
    """Serve until interrupted (blocking); ``host``/``port`` default to the settings'.

    ``settings`` is the CLI's :class:`Settings` (tracking URI, store, API key); the
    serving-only values (batch limit, refresh, model source) come from the environment.
    Without an API key only a loopback host is served, unless ``insecure``.
    """
    import bentoml

    serving = ServingSettings()
    if settings is not None:
        shared = (
            "tracking_uri",
            "store_dir",
            "api_key",
            "host",
            "port",
            "data_dir",
            "fy_start_month",
            "seed",
            "ledger_url",
            "mdf_incentive",
        )
        serving = serving.model_copy(update={k: getattr(settings, k) for k in shared})
    os.environ.update(worker_environment(serving))
    host = host or serving.host
    port = port or serving.port
    if serving.api_keys is not None:
        try:
            keys = load_keys(serving.api_keys)  # a broken keys file stops here, not per request
        except KeyFileError as exc:
            raise BadInput(f"PARTNERCAST_API_KEYS: {exc}") from exc
        log.info("%d named API keys from %s", len(keys), serving.api_keys)
    keyed = serving.api_key is not None or serving.api_keys is not None
    check_exposure(host, keyed, insecure)
    auth = "on (Authorization: Bearer <key>)" if keyed else "off"
    log.info("serving on http://%s:%d (auth %s)", host, port, auth)
    bentoml.serve(
        SERVICE, host=host, port=port, working_dir=str(ROOT), api_workers=1, blocking=True
    )
    return 0


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``partnercast serve [--host H] [--port P]``: the CLI's handler (blocking)."""
    return serve(args.host, args.port, settings, insecure=args.insecure)


def cmd_api_key(args: argparse.Namespace, settings: Settings) -> int:
    """``partnercast api-key --name N --role R``: a new key, and its keys-file entry."""
    import json

    key = new_key()
    entry = {"name": args.name, "role": args.role, "sha256": key_hash(key)}
    print(f"key (give it to {args.name}; it is not stored anywhere): {key}")
    print("entry for the PARTNERCAST_API_KEYS file (a JSON list):")
    print(json.dumps(entry))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m serving.run", description=__doc__)
    parser.add_argument("--host", default=None)
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--insecure", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        return serve(args.host, args.port, insecure=args.insecure)
    except BadInput as exc:
        log.error("%s", exc)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
