"""The "Flower DR Flow" contact flow, generated (Amazon Connect flow language).

Pure functions of plain strings: ``build_contact_flow`` returns the flow as a
dict (``json.dumps`` it for ``aws.connect.ContactFlow(content=...)``) and
``check_contact_flow`` lists its structural problems. No Pulumi here, so the
tests and the local drill use exactly what is deployed.

The flow::

    Look up region ──ok──▶ Talk to active bot ──done──▶ Say goodbye ─▶ Disconnect
         │ error                │ Lex error
         ▼                      ▼
    Talk to primary        Pick other region (Compare $.External.primaryCode)
    after lookup error        ├─ primary   ─▶ Talk to secondary bot ─┐
         │ Lex error          ├─ secondary ─▶ Talk to primary bot  ──┤ done ─▶ Say goodbye
         ▼                    └─ otherwise ─▶ Talk to secondary bot  │ Lex error
    Talk to secondary bot                                            ▼
                                                      Apologise ─▶ Disconnect

* The lookup (``lexDRGetRegion``) gets ``region`` = the Connect instance's
  region and returns ``primaryCode`` and ``botAliasArn`` (flat strings, hence
  ``STRING_MAP``); the first Lex block uses ``$.External.botAliasArn``.
* The handler returns only the active alias, so the retry on a Lex error
  picks the *other* region's alias from static ARNs by comparing
  ``primaryCode``; an unexpected code retries on the secondary (the lookup
  fails open to the primary, so the primary is what just failed).
* If the lookup itself errors, the caller goes straight to the primary alias,
  and on a Lex error there to the secondary.
* Every path ends with a polite message and a disconnect; nothing loops.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

FLOW_LANGUAGE_VERSION = "2019-10-30"
#: Amazon Connect waits at most 8 s for a synchronous Lambda invocation.
MAX_LAMBDA_TIMEOUT_SECONDS = 8

LOOKUP = "Look up region"
TALK_ACTIVE = "Talk to active bot"
PICK_OTHER = "Pick other region"
TALK_PRIMARY_AFTER_LOOKUP_ERROR = "Talk to primary after lookup error"
TALK_PRIMARY = "Talk to primary bot"
TALK_SECONDARY = "Talk to secondary bot"
GOODBYE = "Say goodbye"
APOLOGISE = "Apologise"
DISCONNECT = "Disconnect"

DEFAULT_GREETING = "Welcome to the flower shop. How can I help you today?"
DEFAULT_RETRY_GREETING = "Sorry about that, let's try again. How can I help you today?"
DEFAULT_GOODBYE = "Thank you for calling the flower shop. Goodbye!"
DEFAULT_APOLOGY = (
    "We're sorry, we can't take your order right now. Please call again later. Goodbye."
)

#: Characters the flow language forbids in an action Identifier.
_FORBIDDEN_IDENTIFIER = re.compile(r"[%:()\\/=$,;\[\]{}]")
_MAX_IDENTIFIER = 50
#: Error types after which a Lex conversation did not happen.
_LEX_ERRORS = ("NoMatchingError",)


def _lex_block(
    identifier: str, alias_arn: str, text: str, *, done: str, on_error: str
) -> dict[str, Any]:
    return {
        "Identifier": identifier,
        "Type": "ConnectParticipantWithLexBot",
        "Parameters": {"Text": text, "LexV2Bot": {"AliasArn": alias_arn}},
        "Transitions": {
            "NextAction": done,
            "Conditions": [],
            "Errors": [
                # No intent conditions: a finished conversation is "no match".
                {"NextAction": done, "ErrorType": "NoMatchingCondition"},
                *({"NextAction": on_error, "ErrorType": e} for e in _LEX_ERRORS),
            ],
        },
    }


def _message(identifier: str, text: str, next_action: str) -> dict[str, Any]:
    return {
        "Identifier": identifier,
        "Type": "MessageParticipant",
        "Parameters": {"Text": text},
        "Transitions": {
            "NextAction": next_action,
            "Errors": [{"NextAction": next_action, "ErrorType": "NoMatchingError"}],
        },
    }


def build_contact_flow(
    *,
    lookup_function_arn: str,
    alias_arns: Mapping[str, str],
    primary_region: str,
    secondary_region: str,
    connect_region: str,
    lookup_timeout_seconds: int = MAX_LAMBDA_TIMEOUT_SECONDS,
    greeting: str = DEFAULT_GREETING,
    retry_greeting: str = DEFAULT_RETRY_GREETING,
    goodbye: str = DEFAULT_GOODBYE,
    apology: str = DEFAULT_APOLOGY,
) -> dict[str, Any]:
    """The "Flower DR Flow" content (see the module docstring)."""
    if primary_region == secondary_region:
        raise ValueError("primary and secondary region must differ")
    missing = [r for r in (primary_region, secondary_region) if not alias_arns.get(r)]
    if missing:
        raise ValueError(f"no bot alias ARN for {', '.join(missing)}")
    if not 1 <= lookup_timeout_seconds <= MAX_LAMBDA_TIMEOUT_SECONDS:
        raise ValueError(
            f"lookup_timeout_seconds must be 1..{MAX_LAMBDA_TIMEOUT_SECONDS}, "
            f"got {lookup_timeout_seconds}"
        )
    if not lookup_function_arn:
        raise ValueError("lookup_function_arn must not be empty")
    primary_arn = alias_arns[primary_region]
    secondary_arn = alias_arns[secondary_region]

    actions = [
        {
            "Identifier": LOOKUP,
            "Type": "InvokeLambdaFunction",
            "Parameters": {
                "LambdaFunctionARN": lookup_function_arn,
                "InvocationTimeLimitSeconds": str(lookup_timeout_seconds),
                "InvocationType": "SYNCHRONOUS",
                "LambdaInvocationAttributes": {"region": connect_region},
                "ResponseValidation": {"ResponseType": "STRING_MAP"},
            },
            "Transitions": {
                "NextAction": TALK_ACTIVE,
                "Errors": [
                    {"NextAction": TALK_PRIMARY_AFTER_LOOKUP_ERROR, "ErrorType": "NoMatchingError"}
                ],
            },
        },
        _lex_block(
            TALK_ACTIVE, "$.External.botAliasArn", greeting, done=GOODBYE, on_error=PICK_OTHER
        ),
        {
            "Identifier": PICK_OTHER,
            "Type": "Compare",
            "Parameters": {"ComparisonValue": "$.External.primaryCode"},
            "Transitions": {
                "NextAction": TALK_SECONDARY,
                "Conditions": [
                    {
                        "NextAction": TALK_SECONDARY,
                        "Condition": {"Operator": "Equals", "Operands": [primary_region]},
                    },
                    {
                        "NextAction": TALK_PRIMARY,
                        "Condition": {"Operator": "Equals", "Operands": [secondary_region]},
                    },
                ],
                "Errors": [{"NextAction": TALK_SECONDARY, "ErrorType": "NoMatchingCondition"}],
            },
        },
        _lex_block(
            TALK_PRIMARY_AFTER_LOOKUP_ERROR,
            primary_arn,
            greeting,
            done=GOODBYE,
            on_error=TALK_SECONDARY,
        ),
        _lex_block(TALK_PRIMARY, primary_arn, retry_greeting, done=GOODBYE, on_error=APOLOGISE),
        _lex_block(TALK_SECONDARY, secondary_arn, retry_greeting, done=GOODBYE, on_error=APOLOGISE),
        _message(GOODBYE, goodbye, DISCONNECT),
        _message(APOLOGISE, apology, DISCONNECT),
        {
            "Identifier": DISCONNECT,
            "Type": "DisconnectParticipant",
            "Parameters": {},
            "Transitions": {},
        },
    ]
    return {"Version": FLOW_LANGUAGE_VERSION, "StartAction": LOOKUP, "Actions": actions}


# --------------------------------------------------------------------------- #
# Structural checks
# --------------------------------------------------------------------------- #
_TERMINAL_TYPES = frozenset({"DisconnectParticipant", "EndFlowExecution", "TransferToFlow"})


def _targets(action: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """(where, target identifier) for every transition of an action."""
    transitions = action.get("Transitions") or {}
    if "NextAction" in transitions:
        yield "NextAction", transitions["NextAction"]
    for index, error in enumerate(transitions.get("Errors") or []):
        yield f"Errors[{index}] ({error.get('ErrorType')})", error.get("NextAction")
    for index, condition in enumerate(transitions.get("Conditions") or []):
        yield f"Conditions[{index}]", condition.get("NextAction")


def check_contact_flow(flow: Mapping[str, Any]) -> list[str]:
    """Structural problems of a flow, one line each (empty: none found).

    Checks the version; unique, well-formed identifiers; that ``StartAction``
    and every Transition / Errors / Conditions ``NextAction`` name an existing
    action; that every action is reachable from the start; that only terminal
    actions lack a ``NextAction``; and that Lambda time limits are 1..8 s.
    """
    problems: list[str] = []
    if flow.get("Version") != FLOW_LANGUAGE_VERSION:
        problems.append(f"Version must be {FLOW_LANGUAGE_VERSION!r}, got {flow.get('Version')!r}")
    actions = flow.get("Actions")
    if not isinstance(actions, list) or not actions:
        return [*problems, "Actions must be a non-empty list"]

    identifiers: list[str] = []
    for index, action in enumerate(actions):
        identifier = action.get("Identifier")
        if not isinstance(identifier, str) or not identifier:
            problems.append(f"Actions[{index}] has no Identifier")
            continue
        identifiers.append(identifier)
        if len(identifier) > _MAX_IDENTIFIER:
            problems.append(f"{identifier!r}: Identifier longer than {_MAX_IDENTIFIER} characters")
        if _FORBIDDEN_IDENTIFIER.search(identifier):
            problems.append(f"{identifier!r}: Identifier contains a forbidden character")
        if not action.get("Type"):
            problems.append(f"{identifier!r}: no Type")
    duplicates = sorted({i for i in identifiers if identifiers.count(i) > 1})
    problems.extend(f"{d!r}: Identifier is not unique" for d in duplicates)
    known = set(identifiers)

    start = flow.get("StartAction")
    if start not in known:
        problems.append(f"StartAction {start!r} is not an action")

    edges: dict[str, list[str]] = {i: [] for i in known}
    for action in actions:
        identifier = action.get("Identifier")
        if identifier not in known:
            continue
        targets = list(_targets(action))
        for where, target in targets:
            if target not in known:
                problems.append(f"{identifier!r} {where} points at missing action {target!r}")
            else:
                edges[identifier].append(target)
        has_next = "NextAction" in (action.get("Transitions") or {})
        if not has_next and action.get("Type") not in _TERMINAL_TYPES:
            problems.append(f"{identifier!r}: no Transitions.NextAction and not a terminal action")
        if action.get("Type") == "InvokeLambdaFunction":
            limit = (action.get("Parameters") or {}).get("InvocationTimeLimitSeconds")
            try:
                ok = 1 <= int(limit) <= MAX_LAMBDA_TIMEOUT_SECONDS
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.append(
                    f"{identifier!r}: InvocationTimeLimitSeconds must be 1..8, got {limit!r}"
                )

    if start in known:
        reached, frontier = {start}, [start]
        while frontier:
            for target in edges[frontier.pop()]:
                if target not in reached:
                    reached.add(target)
                    frontier.append(target)
        problems.extend(
            f"{i!r} is unreachable from StartAction" for i in identifiers if i not in reached
        )
    return problems


def lex_alias_arns_in(flow: Mapping[str, Any]) -> list[str]:
    """Every ``LexV2Bot.AliasArn`` the flow talks to, in action order."""
    return [
        a["Parameters"]["LexV2Bot"]["AliasArn"]
        for a in flow.get("Actions", [])
        if a.get("Type") == "ConnectParticipantWithLexBot"
    ]


def lambda_arns_in(flow: Mapping[str, Any]) -> list[str]:
    """Every Lambda function ARN the flow invokes."""
    return [
        a["Parameters"]["LambdaFunctionARN"]
        for a in flow.get("Actions", [])
        if a.get("Type") == "InvokeLambdaFunction"
    ]
