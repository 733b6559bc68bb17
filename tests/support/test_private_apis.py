"""The private-API adapter: it names the versions it was written for and
fails with a clear message on others, before touching any private API."""

from __future__ import annotations

import pytest
from moto import mock_aws

from support import private_apis
from support.emulator import SerialMotoServer
from support.mock_engine import DEV_REGIONS, run_program
from support.private_apis import UnsupportedVersion
from support.sfn import LocalStepFunctions


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch):
    """``installed(package, version)``: pretend ``version`` is installed."""
    real = private_apis.installed_version
    pretend: dict[str, str] = {}
    monkeypatch.setattr(
        private_apis, "installed_version", lambda package: pretend.get(package) or real(package)
    )
    return pretend.__setitem__


def test_the_installed_versions_are_ones_the_adapter_was_written_for():
    private_apis.require("pulumi")
    private_apis.require("moto")
    assert set(private_apis.WRITTEN_FOR) == set(private_apis.LAST_VERIFIED) == {"pulumi", "moto"}


def test_the_ranges_are_the_requirement_files_pins():
    """One range per library, the one the requirement files install."""
    from tests.foundation.test_requirements import ROOT

    pins = {}
    for name in ("requirements.txt", "requirements-dev.txt"):
        for line in (ROOT / name).read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            for package in private_apis.WRITTEN_FOR:
                if line.startswith((f"{package}>", f"{package}<", f"{package}[")):
                    pins[package] = line.split("]")[-1].removeprefix(package)
    assert {p: str(s) for p, s in private_apis.WRITTEN_FOR.items()} == {
        p: ",".join(sorted(pin.split(","))) for p, pin in pins.items()
    }


@pytest.mark.parametrize("version", ["2.17.0", "4.0.0", "not-a-version"])
def test_the_mock_engine_refuses_an_unsupported_pulumi_with_what_to_do(installed, version):
    installed("pulumi", version)
    with pytest.raises(UnsupportedVersion) as raised:
        run_program(DEV_REGIONS)
    message = str(raised.value)
    assert f"pulumi {version} is installed" in message
    assert "written for pulumi<4,>=3.200" in message
    assert "pip install 'pulumi<4,>=3.200'" in message
    assert "support/private_apis.py" in message


def test_in_process_lambdas_refuse_an_unsupported_moto(installed):
    installed("moto", "4.2.14")
    with pytest.raises(UnsupportedVersion, match=r"moto 4\.2\.14 is installed.*moto<6,>=5\.1"):
        LocalStepFunctions({"fn": lambda event, context: event}).__enter__()


def test_the_serial_server_refuses_an_unsupported_moto(installed):
    installed("moto", "6.0.0")
    with pytest.raises(UnsupportedVersion, match=r"moto 6\.0\.0 is installed"):
        SerialMotoServer().start()


def test_state_machine_execution_switch_refuses_an_unsupported_moto(installed):
    installed("moto", "5.0.0")
    with pytest.raises(UnsupportedVersion, match=r"requirements-dev\.txt"):
        private_apis.executing_state_machines().__enter__()


def test_a_supported_pulumi_is_not_refused_after_an_unsupported_one(installed):
    """The verdict is per installed version, not cached once per process."""
    installed("pulumi", "3.100.0")
    with pytest.raises(UnsupportedVersion):
        private_apis.require("pulumi")
    installed("pulumi", "3.272.0")
    private_apis.require("pulumi")


def test_the_lambda_route_replaces_moto_s_invoke_and_restores_it():
    """The private method the route replaces still exists under that name."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction._invoke_lambda
    with mock_aws(), private_apis.route_lambda_invocations(lambda f, e: ("{}", False, "")):
        assert LambdaFunction._invoke_lambda is not original
    assert LambdaFunction._invoke_lambda is original


def test_the_monitor_reports_each_registration_and_forgets_it_after():
    run = run_program(DEV_REGIONS)
    table = next(r for r in run.resources if r.type == "aws:dynamodb/table:Table")
    assert table.urn is not None and table.urn.endswith(f"::{table.name}")
    assert table.parent is not None and table.parent.startswith("urn:pulumi:dev::")
    assert private_apis.current_registration() == private_apis.Registration()
