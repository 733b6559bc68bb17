"""Each setting is declared once: in its function family's contract.

* every function's environment round-trips through its contract (render ->
  parse gives the same typed values);
* no product or drill code spells a contract's variable name as a string:
  only the contract modules do (docstrings and the README are documentation);
* a default changed in the contract shows in Pulumi.yaml (regenerated and
  checked), the README's config table, the deployed environment and the
  handler.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import config
import config_docs
from handlers.cell_router import contract as router_contract
from handlers.common import contract
from handlers.common.contract import ConfigurationError, Contract, EnvField
from handlers.lex_dr import contract as lex_contract
from handlers.router_auth import contract as auth_contract
from tests.contracts.env_literals import CONTRACT_MODULES, literal_uses, product_files
from tests.hang_guard import HANG_GUARD_SECONDS

ROOT = Path(__file__).resolve().parents[2]

CONTRACTS: list[Contract] = [
    *lex_contract.CONTRACTS,
    *router_contract.CONTRACTS.values(),
    *auth_contract.CONTRACTS.values(),
]

BOT = {"botId": "BOT", "botAliasId": "ALIAS", "localeId": "en_US"}
#: A valid value of every field that has no usable default.
SAMPLES: dict[str, Any] = {
    "TABLE_NAME": "tbl",
    "PRIMARY_REGION": "us-east-1",
    "SECONDARY_REGION": "us-west-2",
    "CONNECT_REGION": "us-east-1",
    "CHECKER_REGION": "us-west-2",
    "BOTS": {"us-east-1": BOT, "us-west-2": BOT},
    "BOT_ALIAS_ARNS": {
        "us-east-1": "arn:aws:lex:us-east-1:123456789012:bot-alias/B/A",
        "us-west-2": "arn:aws:lex:us-west-2:123456789012:bot-alias/B/A",
    },
    "LIVENESS_METHOD": "put_session",
    "USER_KEY_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
    "PROVISIONING_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
    "CELL_ENDPOINT_DOMAINS": ["cells.example.com"],
    "MAX_CELLS_PER_MARKET": 9,
    "CELL_READY_ROUTER_ID": "resilient-routing/dev",
    "SIGN_UP_ALLOWED_DOMAINS": ["example.com"],
    "ROUTER_REGION": "us-east-1",
    "ROUTER_PEER_REGION": "us-west-2",
    "ROUTER_PRIMARY_REGION": "us-east-1",
    "ROUTER_URLS": {"us-west-2": "https://router.example.com"},
    "USER_POOL_ISSUER": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc",
    "USER_POOL_CLIENT_IDS": ["client-1"],
}


def _other_than_default(f: EnvField) -> Any:
    """A valid value that is not the default, so a field the renderer drops
    or the parser ignores shows."""
    if f.name in SAMPLES:
        return SAMPLES[f.name]
    if f.kind == "bool":
        return not f.default
    if f.choices:
        return next(c for c in f.choices if c != f.default)
    if f.kind == "int":
        return f.default + 1 if f.high is None or f.default < f.high else f.default - 1
    if f.kind == "decimal":
        return f.default / 2
    return (f.deployed_default or "value") + "-changed"


@pytest.mark.parametrize("fn", CONTRACTS, ids=lambda c: c.function)
def test_every_function_environment_round_trips_through_its_contract(fn: Contract):
    values = {f.attr: _other_than_default(f) for f in fn.fields}
    environment = fn.render(**values)

    assert set(environment) == set(fn.names)
    assert all(isinstance(v, str) for v in environment.values())
    parsed = fn.parse(environment)
    for f in fn.fields:
        expected = values[f.attr]
        got = getattr(parsed, f.attr)
        if f.kind == "decimal":
            assert got == Decimal(str(expected)), f.name
        else:
            assert got == expected, f.name


@pytest.mark.parametrize("fn", CONTRACTS, ids=lambda c: c.function)
def test_an_unset_optional_variable_parses_to_the_contract_default(fn: Contract):
    required = {f.attr: _other_than_default(f) for f in fn.fields if f.required}
    parsed = fn.parse(fn.render(**required))
    for f in fn.fields:
        if not f.required:
            assert getattr(parsed, f.attr) == f.default, f.name


def test_a_bad_value_names_the_variable_and_what_to_change():
    env = router_contract.DISPATCHER.render(
        **{f.attr: _other_than_default(f) for f in router_contract.DISPATCHER.fields}
    )
    env["SCALE_OUT_THRESHOLD"] = "1.5"
    with pytest.raises(ConfigurationError) as raised:
        router_contract.DISPATCHER.parse(env)
    message = str(raised.value)
    assert "SCALE_OUT_THRESHOLD='1.5'" in message
    assert "(0, 1]" in message and "scaleOutThresholdPercent" in message


def test_a_component_cannot_render_what_the_handler_refuses():
    with pytest.raises(ValueError, match="PROBE_ATTEMPTS"):
        lex_contract.PROBE_ATTEMPTS.render(6)
    with pytest.raises(TypeError, match="table_name"):
        lex_contract.GET_REGION.render(primary_region="us-east-1", bot_alias_arns={})


def test_a_shared_variable_is_one_declaration_within_a_family():
    for family in (lex_contract.CONTRACTS, router_contract.CONTRACTS.values(),
                   auth_contract.CONTRACTS.values()):  # fmt: skip
        declared = contract.all_fields(family)
        for fn in family:
            for f in fn.fields:
                assert declared[f.name] is f, (fn.function, f.name)
    # ... and two different declarations of one name are refused.
    one = EnvField("TABLE_NAME", "str", "one")
    other = EnvField("TABLE_NAME", "str", "other")
    with pytest.raises(ValueError, match="TABLE_NAME is declared twice"):
        contract.all_fields([Contract("a", (one,)), Contract("b", (other,))])


def test_one_region_pattern_in_the_house():
    from handlers.cell_router import input_parsing
    from handlers.lex_dr import settings

    assert config.REGION_PATTERN is contract.REGION_PATTERN
    assert input_parsing.REGION_PATTERN is contract.REGION_PATTERN
    assert settings.REGION_PATTERN is contract.REGION_PATTERN
    for region in ("us-east-1", "us-gov-west-1", "cn-north-1", "eusc-de-east-1"):
        assert contract.is_region(region), region


def test_one_configuration_error_in_the_house():
    from handlers.cell_router import errors
    from handlers.lex_dr import settings
    from handlers.router_auth import authorizer

    assert errors.ConfigurationError is ConfigurationError
    assert settings.ConfigurationError is ConfigurationError
    assert authorizer.ConfigurationError is ConfigurationError


# --------------------------------------------------------------------------- #
# Declared once: nobody else spells a variable's name
# --------------------------------------------------------------------------- #
def test_env_names_are_spelt_only_in_their_contract_modules():
    names = {name for fn in CONTRACTS for name in fn.names}
    files = [p for p in product_files() if p not in CONTRACT_MODULES]
    assert len(files) > 100  # the scan sees the product and the drill

    assert literal_uses(names, files) == {}


def test_the_scan_finds_a_name_spelt_outside_a_contract(tmp_path: Path):
    # The check above can fail: a literal in code is found, a docstring is not.
    module = tmp_path / "m.py"
    module.write_text(
        '"""Reads ``SCALE_OUT_THRESHOLD``."""\nimport os\nos.environ["SCALE_OUT_THRESHOLD"]\n'
    )
    assert list(literal_uses(["SCALE_OUT_THRESHOLD"], [module]).values()) == [[f"{module}:3"]]


# --------------------------------------------------------------------------- #
# A newcomer changes scaleOutThresholdPercent's default in one place
# --------------------------------------------------------------------------- #
def test_stack_defaults_and_bounds_come_from_the_contracts():
    for key, f in config.STACK_FIELDS.items():
        setting = next(s for s in config.SETTINGS if s.key == key)
        assert setting.default == f.stack_default, key
    # the percent <-> fraction conversion is declared with the field
    assert config.STACK_FIELDS["scaleOutThresholdPercent"].stack_bounds() == (1, 100)
    assert config.STACK_FIELDS["capacityBufferPercent"].stack_bounds() == (0, 90)


#: Run in a fresh interpreter: the newcomer's one-line edit (the contract
#: field's default, 0.7 -> 0.65) is made before anything imports it; then
#: everything downstream is rendered from scratch.
NEWCOMER = """
import json, sys
from decimal import Decimal
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from handlers.cell_router import contract
object.__setattr__(contract.SCALE_OUT_THRESHOLD, "default", Decimal("0.65"))

import yaml
import config
import config_docs
from handlers.cell_router import settings
from tests.pulumi_harness import DEV_CONFIG, run_program

root = Path(sys.argv[1])
declared = config_docs.pulumi_yaml_with_defaults((root / "Pulumi.yaml").read_text())
pulumi_yaml = yaml.safe_load(declared)
readme = config_docs.readme_with_reference((root / "README.md").read_text())
run = run_program(dict(DEV_CONFIG))
environments = {
    r.name: r.inputs["environment"]["variables"]
    for r in run.resources
    if r.type == "aws:lambda/function:Function" and r.name.endswith(("-dispatcher", "-scaler"))
}
print(json.dumps({
    "pulumi_yaml": pulumi_yaml["config"]["scaleOutThresholdPercent"]["default"],
    "readme_row": [l for l in readme.splitlines() if l.startswith("| `scaleOutThresholdPercent`")],
    "environments": {n: env["SCALE_OUT_THRESHOLD"] for n, env in environments.items()},
    "deployed_parses_to": [
        str(contract.SCALER.parse(env).scale_out_threshold)
        for n, env in environments.items() if n.endswith("-scaler")
    ],
    "handler_unset": str(settings.scale_out_threshold()),
}))
"""


def test_one_default_change_reaches_pulumi_yaml_readme_environment_and_handler(tmp_path):
    import json
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "SCALE_OUT_THRESHOLD"}
    done = subprocess.run(
        [sys.executable, "-c", NEWCOMER, str(ROOT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])

    assert seen["pulumi_yaml"] == 65
    assert seen["readme_row"] == [
        "| `scaleOutThresholdPercent` | integer | `65` | Cell load (% of max) that requests a "
        "new cell. |"
    ]
    # The dispatcher and the scaler read it, in both regions' routers (#13).
    assert set(seen["environments"]) == {
        "cell-router-dispatcher",
        "cell-router-scaler",
        "cell-router-secondary-dispatcher",
        "cell-router-secondary-scaler",
    }
    assert set(seen["environments"].values()) == {"0.65"}
    assert seen["deployed_parses_to"] == ["0.65", "0.65"]  # both regions' scalers
    assert seen["handler_unset"] == "0.65"
    # and today's files still say 70: the generator is what moves them
    assert (
        yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["scaleOutThresholdPercent"][
            "default"
        ]
        == 70
    )


def test_pulumi_yaml_is_what_the_generator_writes():
    # `python config_docs.py` regenerates Pulumi.yaml's defaults; the file on disk
    # is already its output (and test_config checks it equals SETTINGS).
    text = (ROOT / "Pulumi.yaml").read_text()
    assert config_docs.pulumi_yaml_with_defaults(text) == text
    readme = (ROOT / "README.md").read_text()
    assert config_docs.readme_with_reference(readme) == readme


def test_readme_points_to_the_contracts():
    readme = (ROOT / "README.md").read_text()
    for module in ("handlers/lex_dr/contract.py", "handlers/cell_router/contract.py"):
        assert module in readme


# --------------------------------------------------------------------------- #
# The drift issue #9 measured: one value each now
# --------------------------------------------------------------------------- #
def test_the_drifted_defaults_and_bounds_are_one_value_in_every_layer(monkeypatch):
    from components.cell_router_functions import CellRouterFunctionsArgs
    from components.health_check import HealthCheckArgs
    from handlers.cell_router import settings as router_settings
    from handlers.lex_dr.settings import HealthCheckSettings

    stack = config.parse_settings(
        {"primaryRegion": "us-east-1", "secondaryRegion": "us-west-2"}, stack="dev"
    )
    router_args = CellRouterFunctionsArgs.__dataclass_fields__
    for variable in (
        router_contract.REMEDIATION_SUPPORT_CONTACT,
        router_contract.REMEDIATION_INCIDENT_NOTICE,
    ):
        monkeypatch.delenv(variable.name, raising=False)
    # support contact and incident notice: stack == component == handler
    assert (
        stack.cell_router.support_contact
        == router_args["support_contact"].default
        == router_settings.support_contact()
    )
    assert (
        stack.cell_router.incident_notice
        == router_args["incident_notice"].default
        == router_settings.incident_notice()
    )
    # the probe's test user: stack == component == handler (variable unset)
    env = lex_contract.HEALTH_CHECK.render(
        **{f.attr: _other_than_default(f) for f in lex_contract.HEALTH_CHECK.fields if f.required},
        sample_utterance="hi",
        expected_response="hello",
    )
    assert (
        stack.health_check.test_user
        == HealthCheckArgs.__dataclass_fields__["test_user"].default
        == HealthCheckSettings.from_env(env).test_user
    )
    # probeAttempts: 1..5 in the stack, the component and the handler
    with pytest.raises(config.ConfigError, match="probeAttempts"):
        config.parse_settings(
            {"primaryRegion": "us-east-1", "secondaryRegion": "us-west-2", "probeAttempts": 6},
            stack="dev",
        )
    with pytest.raises(ValueError, match="probe_attempts"):
        HealthCheckArgs(
            primary_region="us-east-1",
            secondary_region="us-west-2",
            bots_env="{}",
            alias_arns={},
            probe_attempts=6,
        )
    with pytest.raises(ConfigurationError, match="PROBE_ATTEMPTS"):
        HealthCheckSettings.from_env({**env, lex_contract.PROBE_ATTEMPTS.name: "6"})
