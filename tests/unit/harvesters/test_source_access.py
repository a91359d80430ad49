"""What harvest sources may reach on the portal's machine: folders, hosts and secrets."""

import os
import socket

import pytest

from harvesters.interfaces import HarvestSourceError
from harvesters.sources.access import (
    configure_folder_roots,
    folder_rule_error,
    read_secret,
    secret_name_error,
    vetted_address,
)


@pytest.fixture
def roots(tmp_path):
    first, second = tmp_path / "一", tmp_path / "二"
    first.mkdir()
    second.mkdir()
    configure_folder_roots(os.pathsep.join([str(first), "", str(second)]))
    yield first, second
    configure_folder_roots("")


def test_every_root_of_the_setting_is_allowed(roots, tmp_path):
    first, second = roots
    assert folder_rule_error(first / "a") is None
    assert folder_rule_error(second) is None
    assert "not inside" in folder_rule_error(tmp_path)
    assert "not inside" in folder_rule_error(first / ".." / "三")


def test_an_empty_setting_allows_no_folder(tmp_path):
    configure_folder_roots("")
    assert "harvest_folder_roots" in folder_rule_error(tmp_path)


@pytest.mark.parametrize(
    "name", ["OPENDATA_SECRET_KEY", "AWS_SECRET_ACCESS_KEY", "OPENDATA_HARVEST_SECRET_", 7]
)
def test_only_harvest_secret_variables_may_be_named(name):
    assert secret_name_error(name)


def test_a_secret_is_read_from_its_variable(monkeypatch):
    monkeypatch.setenv("OPENDATA_HARVEST_SECRET_DB", "口令")
    assert secret_name_error("OPENDATA_HARVEST_SECRET_DB") is None
    assert read_secret("OPENDATA_HARVEST_SECRET_DB") == "口令"
    monkeypatch.setenv("OPENDATA_HARVEST_SECRET_DB", "")
    with pytest.raises(HarvestSourceError, match="not set"):
        read_secret("OPENDATA_HARVEST_SECRET_DB")
    with pytest.raises(HarvestSourceError, match="OPENDATA_HARVEST_SECRET_"):
        read_secret("HOME")


@pytest.fixture
def listening():
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[1]


def test_a_host_is_vetted_as_the_fetcher_vets_it(listening):
    with pytest.raises(HarvestSourceError, match="loopback"):
        vetted_address("localhost", listening, allow_private=False)
    assert vetted_address("localhost", listening, allow_private=True) == "127.0.0.1"


def test_a_host_that_accepts_no_connection_fails(listening):
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(HarvestSourceError, match="cannot connect"):
        vetted_address("127.0.0.1", port, allow_private=True)
    with pytest.raises(HarvestSourceError, match="cannot resolve"):
        vetted_address("no-such-host.invalid", listening, allow_private=True)
