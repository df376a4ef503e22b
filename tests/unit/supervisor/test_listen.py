"""Where the API listens beyond this machine: the variables read, and what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.api.listen import network_listen
from supervisor.errors import SupervisorError

TOKEN = "t" * 32


def test_without_a_listen_address_the_api_stays_on_this_machine() -> None:
    assert network_listen({}) is None
    with pytest.raises(SupervisorError, match="DESKPILOT_API_LISTEN is not"):
        network_listen({"DESKPILOT_API_URL": "http://robot-2:8750"})


def test_a_bind_beyond_loopback_needs_a_token() -> None:
    with pytest.raises(SupervisorError, match=r"0\.0\.0\.0:8750 would serve.*DESKPILOT_API_TOKEN"):
        network_listen({"DESKPILOT_API_LISTEN": "0.0.0.0:8750"})
    with pytest.raises(SupervisorError, match="at least 32"):
        network_listen({"DESKPILOT_API_LISTEN": "0.0.0.0:8750", "DESKPILOT_API_TOKEN": "short"})
    listen = network_listen({"DESKPILOT_API_LISTEN": "0.0.0.0:8750", "DESKPILOT_API_TOKEN": TOKEN})
    assert listen is not None and listen.token == TOKEN and not listen.loopback
    assert listen.advertised(8750).endswith(":8750")


def test_loopback_needs_no_token_and_the_url_can_be_given() -> None:
    listen = network_listen({"DESKPILOT_API_LISTEN": "127.0.0.1:0"})
    assert listen is not None and listen.loopback and listen.token is None
    assert listen.advertised(41234) == "http://127.0.0.1:41234"
    given = network_listen(
        {
            "DESKPILOT_API_LISTEN": "[::1]:8750",
            "DESKPILOT_API_URL": "https://robot-2.example.com",
        }
    )
    assert given is not None and given.host == "::1"
    assert given.advertised(8750) == "https://robot-2.example.com"


@pytest.mark.parametrize("value", ["8750", "host:", "host:99999", "host:port"])
def test_a_bad_address_names_the_variable_and_the_form(value: str) -> None:
    with pytest.raises(SupervisorError, match="DESKPILOT_API_LISTEN.*HOST:PORT"):
        network_listen({"DESKPILOT_API_LISTEN": value})


def test_an_advertised_url_must_be_http() -> None:
    with pytest.raises(SupervisorError, match="http:// or https://"):
        network_listen({"DESKPILOT_API_LISTEN": "127.0.0.1:1", "DESKPILOT_API_URL": "robot-2"})


def test_tls_needs_both_files_and_a_key_that_matches(tmp_path: Path) -> None:
    from tests.helpers.tls import self_signed

    one = self_signed(tmp_path, "one")
    other = self_signed(tmp_path, "other")
    base = {"DESKPILOT_API_LISTEN": "127.0.0.1:0"}
    with pytest.raises(SupervisorError, match="DESKPILOT_API_TLS_KEY is not"):
        network_listen({**base, "DESKPILOT_API_TLS_CERT": str(one.cert)})
    with pytest.raises(SupervisorError, match="does not exist"):
        network_listen(
            {
                **base,
                "DESKPILOT_API_TLS_CERT": str(tmp_path / "x"),
                "DESKPILOT_API_TLS_KEY": str(one.key),
            }
        )
    with pytest.raises(SupervisorError, match="cannot serve HTTPS"):
        network_listen(
            {
                **base,
                "DESKPILOT_API_TLS_CERT": str(one.cert),
                "DESKPILOT_API_TLS_KEY": str(other.key),
            }
        )
    listen = network_listen(
        {**base, "DESKPILOT_API_TLS_CERT": str(one.cert), "DESKPILOT_API_TLS_KEY": str(one.key)}
    )
    assert listen is not None and listen.tls
    assert listen.advertised(8750) == "https://127.0.0.1:8750"


def test_config_toml_api_settings_yield_to_the_environment(tmp_path: Path) -> None:
    from supervisor.api.listen import listen_settings

    assert listen_settings(tmp_path, {"X": "1"}) == {"X": "1"}
    (tmp_path / "config.toml").write_text(
        '[api]\nlisten = "127.0.0.1:8750"\nurl = "https://robot-2:8750"\n'
    )
    merged = listen_settings(tmp_path, {"DESKPILOT_API_URL": "", "DESKPILOT_API_LISTEN": "[::1]:0"})
    assert merged["DESKPILOT_API_LISTEN"] == "[::1]:0"  # the environment wins
    assert merged["DESKPILOT_API_URL"] == "https://robot-2:8750"  # an empty variable does not
    listen = network_listen(listen_settings(tmp_path, {}))
    assert listen is not None and listen.port == 8750
    (tmp_path / "config.toml").write_text(f'[api]\nlisten = "0.0.0.0:1"\ntoken = "{TOKEN}"\n')
    with pytest.raises(SupervisorError, match="holds a token"):
        listen_settings(tmp_path, {})
    (tmp_path / "config.toml").write_text("[api]\nport = 1\n")
    with pytest.raises(SupervisorError, match="unknown setting port"):
        listen_settings(tmp_path, {})
