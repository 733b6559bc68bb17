"""The "Flower DR Flow" builder and the structural checker, without the engine.

Besides the structure, a small interpreter walks the flow the way Connect
would (lookup result, then Lex blocks that succeed or fail) to prove which
aliases a caller is offered in each failure scenario.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from components.contact_flow import (
    APOLOGISE,
    DISCONNECT,
    GOODBYE,
    LOOKUP,
    build_contact_flow,
    check_contact_flow,
    lambda_arns_in,
    lex_alias_arns_in,
)

PRIMARY, SECONDARY = "us-east-1", "us-west-2"
LOOKUP_ARN = "arn:aws:lambda:us-east-1:123456789012:function:lex-failover-lexDRGetRegion-abc"
ALIASES = {
    PRIMARY: "arn:aws:lex:us-east-1:123456789012:bot-alias/PRIMARYBOT/PRIMALIAS1",
    SECONDARY: "arn:aws:lex:us-west-2:123456789012:bot-alias/SECONDBOT1/SECALIAS01",
}


def _flow(**overrides: Any) -> dict[str, Any]:
    args = dict(
        lookup_function_arn=LOOKUP_ARN,
        alias_arns=ALIASES,
        primary_region=PRIMARY,
        secondary_region=SECONDARY,
        connect_region=PRIMARY,
    )
    return build_contact_flow(**{**args, **overrides})


def _action(flow: Mapping[str, Any], identifier: str) -> dict[str, Any]:
    return next(a for a in flow["Actions"] if a["Identifier"] == identifier)


# --------------------------------------------------------------------------- #
# A tiny interpreter of the actions this flow uses
# --------------------------------------------------------------------------- #
def walk(
    flow: Mapping[str, Any],
    lookup: Mapping[str, str] | None,
    lex_works: Callable[[str], bool],
) -> tuple[list[str], list[str]]:
    """Run the flow. ``lookup`` is the function's result (None: it errored).
    Returns (alias ARNs the caller was connected to, messages played)."""
    actions = {a["Identifier"]: a for a in flow["Actions"]}
    external: dict[str, str] = {}
    talked, said = [], []
    current, steps = flow["StartAction"], 0
    while True:
        steps += 1
        assert steps < 50, "the flow loops"
        action = actions[current]
        kind, params, transitions = action["Type"], action["Parameters"], action["Transitions"]

        errors = {e["ErrorType"]: e["NextAction"] for e in transitions.get("Errors", [])}
        error = errors.__getitem__

        if kind == "DisconnectParticipant":
            return talked, said
        if kind == "InvokeLambdaFunction":
            if lookup is None:
                current = error("NoMatchingError")
            else:
                external = dict(lookup)
                current = transitions["NextAction"]
        elif kind == "ConnectParticipantWithLexBot":
            arn = params["LexV2Bot"]["AliasArn"]
            if arn.startswith("$.External."):
                arn = external.get(arn.removeprefix("$.External."), "")
            talked.append(arn)
            current = error("NoMatchingCondition") if lex_works(arn) else error("NoMatchingError")
        elif kind == "Compare":
            value = external.get(params["ComparisonValue"].removeprefix("$.External."))
            matches = [
                c["NextAction"]
                for c in transitions["Conditions"]
                if c["Condition"]["Operator"] == "Equals" and value in c["Condition"]["Operands"]
            ]
            current = matches[0] if matches else error("NoMatchingCondition")
        elif kind == "MessageParticipant":
            said.append(current)
            current = transitions["NextAction"]
        else:
            raise AssertionError(f"unexpected action type {kind}")


def _lookup(region: str) -> dict[str, str]:
    return {"primaryCode": region, "botAliasArn": ALIASES[region], "statusCode": "200"}


@pytest.mark.parametrize(
    ("lookup", "healthy", "talked", "said"),
    [
        # Normal: the active region's bot answers.
        (_lookup(PRIMARY), {PRIMARY}, [ALIASES[PRIMARY]], [GOODBYE]),
        (_lookup(SECONDARY), {SECONDARY}, [ALIASES[SECONDARY]], [GOODBYE]),
        # The table says primary, but it just failed: try the secondary.
        (_lookup(PRIMARY), {SECONDARY}, [ALIASES[PRIMARY], ALIASES[SECONDARY]], [GOODBYE]),
        # After a failover the secondary fails: try the primary.
        (_lookup(SECONDARY), {PRIMARY}, [ALIASES[SECONDARY], ALIASES[PRIMARY]], [GOODBYE]),
        # The lookup itself errors: primary, then the secondary.
        (None, {PRIMARY}, [ALIASES[PRIMARY]], [GOODBYE]),
        (None, {SECONDARY}, [ALIASES[PRIMARY], ALIASES[SECONDARY]], [GOODBYE]),
        # Both down: each tried once, then an apology; never a loop.
        (_lookup(PRIMARY), set(), [ALIASES[PRIMARY], ALIASES[SECONDARY]], [APOLOGISE]),
        (None, set(), [ALIASES[PRIMARY], ALIASES[SECONDARY]], [APOLOGISE]),
        # A lookup that failed open with no ARN: the empty alias fails, secondary next.
        ({"primaryCode": "", "botAliasArn": "", "statusCode": "500"}, {SECONDARY},
         ["", ALIASES[SECONDARY]], [GOODBYE]),
    ],
)  # fmt: skip
def test_callers_reach_a_healthy_bot_or_a_polite_apology(lookup, healthy, talked, said):
    flow = _flow()
    got_talked, got_said = walk(flow, lookup, lambda arn: arn in {ALIASES[r] for r in healthy})
    assert (got_talked, got_said) == (talked, said)


def test_built_flow_is_well_formed():
    flow = _flow()
    assert check_contact_flow(flow) == []
    assert flow["Version"] == "2019-10-30"
    assert flow["StartAction"] == LOOKUP
    assert _action(flow, DISCONNECT)["Type"] == "DisconnectParticipant"


def test_lookup_block_invokes_the_function_with_the_connect_region():
    flow = _flow(connect_region="us-east-1")
    lookup = _action(flow, LOOKUP)
    assert lookup["Type"] == "InvokeLambdaFunction"
    assert lookup["Parameters"] == {
        "LambdaFunctionARN": LOOKUP_ARN,
        "InvocationTimeLimitSeconds": "8",
        "InvocationType": "SYNCHRONOUS",
        "LambdaInvocationAttributes": {"region": "us-east-1"},
        "ResponseValidation": {"ResponseType": "STRING_MAP"},
    }
    assert lambda_arns_in(flow) == [LOOKUP_ARN]


def test_flow_talks_to_the_returned_alias_and_both_static_aliases():
    arns = lex_alias_arns_in(_flow())
    assert arns[0] == "$.External.botAliasArn"
    assert set(arns[1:]) == set(ALIASES.values())


# --------------------------------------------------------------------------- #
# The checker catches what it claims to
# --------------------------------------------------------------------------- #
def _broken(mutate: Callable[[dict[str, Any]], None]) -> list[str]:
    flow = copy.deepcopy(_flow())
    mutate(flow)
    return check_contact_flow(flow)


def test_checker_catches_a_dangling_transition():
    problems = _broken(lambda f: _action(f, GOODBYE)["Transitions"].update(NextAction="Nowhere"))
    assert any("'Say goodbye' NextAction points at missing action 'Nowhere'" in p for p in problems)


def test_checker_catches_a_dangling_error_branch():
    def mutate(flow):
        _action(flow, LOOKUP)["Transitions"]["Errors"][0]["NextAction"] = "Gone"

    assert any("Errors[0] (NoMatchingError) points at missing action 'Gone'" in p
               for p in _broken(mutate))  # fmt: skip


def test_checker_catches_a_dangling_condition():
    def mutate(flow):
        _action(flow, "Pick other region")["Transitions"]["Conditions"][1]["NextAction"] = "X"

    assert any("Conditions[1] points at missing action 'X'" in p for p in _broken(mutate))


def test_checker_catches_a_missing_start_and_unreachable_actions():
    problems = _broken(lambda f: f.update(StartAction="Missing"))
    assert any("StartAction 'Missing' is not an action" in p for p in problems)

    def orphan(flow):
        flow["Actions"].append(
            {"Identifier": "Orphan", "Type": "MessageParticipant", "Parameters": {"Text": "hi"},
             "Transitions": {"NextAction": DISCONNECT}}
        )  # fmt: skip

    assert _broken(orphan) == ["'Orphan' is unreachable from StartAction"]


def test_checker_catches_duplicate_and_malformed_identifiers():
    def duplicate(flow):
        flow["Actions"].append(copy.deepcopy(_action(flow, GOODBYE)))

    assert "'Say goodbye': Identifier is not unique" in _broken(duplicate)

    def bad_name(flow):
        flow["Actions"].append(
            {"Identifier": "a:b" + "x" * 60, "Type": "DisconnectParticipant",
             "Parameters": {}, "Transitions": {}}
        )  # fmt: skip

    problems = _broken(bad_name)
    assert any("longer than 50" in p for p in problems)
    assert any("forbidden character" in p for p in problems)


def test_checker_catches_a_dead_end_and_a_slow_lambda():
    problems = _broken(lambda f: _action(f, APOLOGISE)["Transitions"].pop("NextAction"))
    assert "'Apologise': no Transitions.NextAction and not a terminal action" in problems
    problems = _broken(
        lambda f: _action(f, LOOKUP)["Parameters"].update(InvocationTimeLimitSeconds="9")
    )
    assert any("InvocationTimeLimitSeconds must be 1..8" in p for p in problems)


def test_checker_catches_a_wrong_version():
    assert _broken(lambda f: f.update(Version="2020-01-01"))[0].startswith("Version must be")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"secondary_region": PRIMARY}, "must differ"),
        ({"alias_arns": {PRIMARY: ALIASES[PRIMARY]}}, "no bot alias ARN for us-west-2"),
        ({"lookup_timeout_seconds": 9}, "lookup_timeout_seconds"),
        ({"lookup_function_arn": ""}, "lookup_function_arn"),
    ],
)
def test_builder_refuses_bad_input(overrides, message):
    with pytest.raises(ValueError, match=message):
        _flow(**overrides)
