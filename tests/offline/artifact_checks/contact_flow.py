"""Amazon Connect flow language: action types, parameters, error branches."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components.contact_flow import check_contact_flow
from tests.offline.artifact_checks.common import as_json

_FLOW_DOC = "https://docs.aws.amazon.com/connect/latest/APIReference/"


@dataclass(frozen=True)
class FlowActionSpec:
    """What the flow-language reference says about one action type."""

    doc: str
    required: tuple[str, ...] = ()
    #: At least one (and, with ``exclusive``, exactly one) of these.
    one_of: tuple[str, ...] = ()
    exclusive: bool = False
    optional: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    conditions: bool = False
    terminal: bool = False


#: Action types this program may generate. Parameters and error types from
#: the Amazon Connect Flow language reference (``doc`` under ``_FLOW_DOC``).
FLOW_ACTIONS: dict[str, FlowActionSpec] = {
    "InvokeLambdaFunction": FlowActionSpec(
        doc=_FLOW_DOC + "interactions-invokelambdafunction.html",
        required=("LambdaFunctionARN", "InvocationTimeLimitSeconds"),
        optional=("InvocationType", "LambdaInvocationAttributes", "ResponseValidation"),
        errors=("NoMatchingError",),
    ),
    "ConnectParticipantWithLexBot": FlowActionSpec(
        doc=_FLOW_DOC + "participant-actions-connectparticipantwithlexbot.html",
        one_of=("LexV2Bot", "LexBot"),
        exclusive=True,
        optional=(
            "PromptId",
            "Text",
            "SSML",
            "Media",
            "LexSessionAttributes",
            "LexInitilizationData",  # sic: the reference's spelling
            "LexTimeoutSeconds",
        ),
        errors=("InputTimeLimitExceeded", "NoMatchingError", "NoMatchingCondition"),
        conditions=True,
    ),
    "MessageParticipant": FlowActionSpec(
        doc=_FLOW_DOC + "participant-actions-messageparticipant.html",
        one_of=("Text", "PromptId", "SSML", "Media"),
        exclusive=True,
        errors=("NoMatchingError",),
    ),
    "DisconnectParticipant": FlowActionSpec(
        doc=_FLOW_DOC + "participant-actions-disconnectparticipant.html", terminal=True
    ),
    "Compare": FlowActionSpec(
        doc=_FLOW_DOC + "flow-control-actions-compare.html",
        required=("ComparisonValue",),
        errors=("NoMatchingCondition",),
        conditions=True,
    ),
    "UpdateContactAttributes": FlowActionSpec(
        doc=_FLOW_DOC + "contact-actions-updatecontactattributes.html",
        required=("Attributes",),
        optional=("TargetContact",),
        errors=("NoMatchingError",),
    ),
    "UpdateFlowLoggingBehavior": FlowActionSpec(
        doc=_FLOW_DOC + "flow-control-actions-updateflowloggingbehavior.html",
        required=("FlowLoggingBehavior",),
    ),
    "TransferToFlow": FlowActionSpec(
        doc=_FLOW_DOC + "flow-control-actions-transfertoflow.html",
        required=("ContactFlowId",),
        errors=("NoMatchingError",),
        terminal=True,
    ),
    "EndFlowExecution": FlowActionSpec(
        doc=_FLOW_DOC + "flow-control-actions-endflowexecution.html", terminal=True
    ),
}

#: Operators of ``Conditions[].Condition`` (flow-language-actions.html).
FLOW_OPERATORS = frozenset(
    {
        "Equals",
        "NumberGreaterThan",
        "NumberGreaterOrEqualTo",
        "NumberLessThan",
        "NumberLessOrEqualTo",
        "TextStartsWith",
        "TextEndsWith",
        "TextContains",
    }
)
_LEX_V2_ALIAS_ARN = re.compile(
    r"^arn:aws[a-z-]*:lex:[a-z0-9-]+:\d{12}:bot-alias/[0-9A-Za-z]{10}/[0-9A-Za-z]{10}$"
)
_LAMBDA_ARN = re.compile(r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[A-Za-z0-9_-]+$")
_FLOW_JSONPATH = re.compile(r"^\$\.[A-Za-z]+(\.[A-Za-z0-9_-]+)+$")


def check_flow_actions(flow: Mapping[str, Any]) -> list[str]:
    """Action types, parameters, error branches and conditions."""
    problems = []
    for action in flow.get("Actions") or []:
        where = repr(action.get("Identifier"))
        spec = FLOW_ACTIONS.get(action.get("Type"))
        if spec is None:
            problems.append(f"{where}: unknown action Type {action.get('Type')!r}")
            continue
        params = action.get("Parameters") or {}
        missing = [p for p in spec.required if p not in params]
        if missing:
            problems.append(f"{where}: {action['Type']} needs Parameters {missing}")
        chosen = [p for p in spec.one_of if p in params]
        if spec.one_of and not chosen:
            problems.append(f"{where}: {action['Type']} needs one of {list(spec.one_of)}")
        if spec.exclusive and len(chosen) > 1:
            problems.append(f"{where}: {action['Type']} takes only one of {chosen}")
        known = {*spec.required, *spec.one_of, *spec.optional}
        unknown = sorted(set(params) - known)
        if unknown:
            problems.append(f"{where}: {action['Type']} has no Parameters {unknown}")
        transitions = action.get("Transitions") or {}
        for error in transitions.get("Errors") or []:
            if error.get("ErrorType") not in spec.errors:
                problems.append(
                    f"{where}: {action['Type']} raises no {error.get('ErrorType')!r} "
                    f"(only {list(spec.errors)})"
                )
        conditions = transitions.get("Conditions") or []
        if conditions and not spec.conditions:
            problems.append(f"{where}: {action['Type']} supports no Conditions")
        for condition in conditions:
            operator = (condition.get("Condition") or {}).get("Operator")
            if operator not in FLOW_OPERATORS:
                problems.append(f"{where}: unknown condition operator {operator!r}")
        problems.extend(_flow_parameter_values(where, action.get("Type"), params))
    return problems


def _flow_parameter_values(where: str, action_type: str, params: Mapping[str, Any]) -> list[str]:
    problems = []
    if action_type == "ConnectParticipantWithLexBot" and "LexV2Bot" in params:
        arn = (params["LexV2Bot"] or {}).get("AliasArn", "")
        if not (_LEX_V2_ALIAS_ARN.fullmatch(arn) or _FLOW_JSONPATH.fullmatch(arn)):
            problems.append(f"{where}: LexV2Bot.AliasArn {arn!r} is not a Lex V2 alias ARN")
    if action_type == "InvokeLambdaFunction":
        arn = params.get("LambdaFunctionARN", "")
        if not (_LAMBDA_ARN.fullmatch(arn) or _FLOW_JSONPATH.fullmatch(arn)):
            problems.append(f"{where}: LambdaFunctionARN {arn!r} is not a function ARN")
        response = (params.get("ResponseValidation") or {}).get("ResponseType")
        if response not in (None, "STRING_MAP", "JSON"):
            problems.append(f"{where}: ResponseType {response!r} is not STRING_MAP or JSON")
        if params.get("InvocationType") not in (None, "SYNCHRONOUS", "ASYNCHRONOUS"):
            problems.append(f"{where}: InvocationType {params['InvocationType']!r} is unknown")
    if action_type == "Compare" and not _FLOW_JSONPATH.fullmatch(
        str(params.get("ComparisonValue", ""))
    ):
        problems.append(f"{where}: ComparisonValue must be a single JSONPath")
    return problems


def check_flow_associations(
    flow: Mapping[str, Any], lex_alias_arns: Iterable[str], lambda_arns: Iterable[str]
) -> list[str]:
    """Connect refuses a flow that uses a bot or function not associated with
    the instance; every static ARN the flow names must be associated."""
    lex, functions = set(lex_alias_arns), set(lambda_arns)
    problems = []
    for action in flow.get("Actions") or []:
        params = action.get("Parameters") or {}
        alias = (params.get("LexV2Bot") or {}).get("AliasArn")
        if alias and not alias.startswith("$") and alias not in lex:
            problems.append(f"{action['Identifier']!r}: bot alias {alias} is not associated")
        function = (
            params.get("LambdaFunctionARN")
            if action.get("Type") == "InvokeLambdaFunction"
            else None
        )
        if function and not function.startswith("$") and function not in functions:
            problems.append(f"{action['Identifier']!r}: function {function} is not associated")
    return problems


def check_contact_flow_content(content: str | Mapping[str, Any]) -> list[str]:
    """The component's structural checker plus ``check_flow_actions``."""
    try:
        flow = as_json(content)
    except json.JSONDecodeError as error:
        return [f"content is not JSON: {error}"]
    return list(check_contact_flow(flow)) + check_flow_actions(flow)
