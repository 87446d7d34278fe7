"""Serving without auth beyond this machine is refused unless asked for explicitly."""

from __future__ import annotations

import pytest

from features.data import BadInput
from serving.run import check_exposure, is_loopback
from training.cli import main


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.0.3", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("api.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_needs_a_key_or_insecure() -> None:
    check_exposure("127.0.0.1", api_key_set=False, insecure=False)
    check_exposure("0.0.0.0", api_key_set=True, insecure=False)
    check_exposure("0.0.0.0", api_key_set=False, insecure=True)
    with pytest.raises(BadInput, match="--insecure"):
        check_exposure("0.0.0.0", api_key_set=False, insecure=False)


def test_serve_on_all_interfaces_without_a_key_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PARTNERCAST_API_KEY", raising=False)
    assert main(["serve", "--host", "0.0.0.0", "--port", "3999"]) == 2
    assert "PARTNERCAST_API_KEY" in capsys.readouterr().err
