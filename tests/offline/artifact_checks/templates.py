"""API Gateway mapping templates (VTL): references and StartSyncExecution shapes."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: ``$context`` variables of REST API mapping templates and gateway responses
#: (https://docs.aws.amazon.com/apigateway/latest/developerguide/
#: api-gateway-mapping-template-reference.html). ``*`` is one path
#: segment chosen by the caller (a claim, a header name). ``authorizer.*``
#: (a Lambda authorizer's context map) is left out on purpose: this API's
#: TOKEN authorizer (issue #13) is read through ``authorizer.principalId``
#: only; ``authorizer.claims.*`` is what a Cognito authorizer would set.
CONTEXT_VARIABLES: frozenset[str] = frozenset(
    {
        "accountId",
        "apiId",
        "authorizer.claims.*",
        "authorizer.principalId",
        "awsEndpointRequestId",
        "deploymentId",
        "domainName",
        "domainPrefix",
        "error.message",
        "error.messageString",
        "error.responseType",
        "error.validationErrorString",
        "extendedRequestId",
        "httpMethod",
        "identity.accountId",
        "identity.apiKey",
        "identity.apiKeyId",
        "identity.caller",
        "identity.cognitoAuthenticationProvider",
        "identity.cognitoAuthenticationType",
        "identity.cognitoIdentityId",
        "identity.cognitoIdentityPoolId",
        "identity.principalOrgId",
        "identity.sourceIp",
        "identity.clientCert.clientCertPem",
        "identity.clientCert.subjectDN",
        "identity.clientCert.issuerDN",
        "identity.clientCert.serialNumber",
        "identity.clientCert.validity.notBefore",
        "identity.clientCert.validity.notAfter",
        "identity.vpcId",
        "identity.vpceId",
        "identity.user",
        "identity.userAgent",
        "identity.userArn",
        "isCanaryRequest",
        "path",
        "protocol",
        "requestId",
        "requestOverride.header.*",
        "requestOverride.path.*",
        "requestOverride.querystring.*",
        "responseOverride.header.*",
        "responseOverride.status",
        "requestTime",
        "requestTimeEpoch",
        "resourceId",
        "resourcePath",
        "stage",
        "wafResponseCode",
        "webaclArn",
        "xrayTraceId",
    }
)
#: Extra ``$context`` variables of access log formats
#: (https://docs.aws.amazon.com/apigateway/latest/developerguide/
#: api-gateway-variables-for-access-logging.html).
ACCESS_LOG_CONTEXT_VARIABLES: frozenset[str] = CONTEXT_VARIABLES | {
    "authorize.error",
    "authorize.latency",
    "authorize.status",
    "authorizer.error",
    "authorizer.integrationLatency",
    "authorizer.integrationStatus",
    "authorizer.latency",
    "authorizer.requestId",
    "authorizer.status",
    "authenticate.error",
    "authenticate.latency",
    "authenticate.status",
    "customDomain.basePathMatched",
    "integration.error",
    "integration.integrationStatus",
    "integration.latency",
    "integration.requestId",
    "integration.status",
    "integrationErrorMessage",
    "integrationLatency",
    "integrationStatus",
    "responseLatency",
    "responseLength",
    "status",
    "waf.error",
    "waf.latency",
    "waf.status",
}
#: ``$input`` and ``$util`` members (https://docs.aws.amazon.com/apigateway/latest/developerguide/
#: api-gateway-mapping-template-reference.html).
INPUT_MEMBERS = frozenset({"body", "json", "params", "path"})
UTIL_MEMBERS = frozenset(
    {"escapeJavaScript", "parseJson", "urlEncode", "urlDecode", "base64Encode", "base64Decode"}
)
BUILTIN_ROOTS = frozenset({"context", "input", "util", "stageVariables"})

#: The execution input the Orchestrator and every handler read (SPEC).
EXECUTION_INPUT_KEYS = frozenset({"path", "httpMethod", "userId", "body"})
#: Members of an AWS JSON-protocol error body (StartSyncExecution refused).
SERVICE_ERROR_MEMBERS = frozenset({"__type", "message", "Message"})

_REFERENCE_START = re.compile(r"(?<!\\)\$!?\{?([A-Za-z][A-Za-z0-9_-]*)")
_SET_LOCAL = re.compile(r"#(?:set|foreach)\s*\(\s*\$!?\{?([A-Za-z][A-Za-z0-9_-]*)\s*(?:=|in\b)")
_MEMBER = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class Reference:
    """``$root.a.b(args).c`` as root, members and the argument text of calls."""

    root: str
    members: tuple[str, ...]
    calls: tuple[tuple[str, str], ...]  # (member, raw argument text)
    text: str


def _balanced(text: str, start: int) -> int:
    """Index after the ``)`` matching ``text[start] == '('`` (quotes respected)."""
    depth, quote, index = 0, None, start
    while index < len(text):
        ch = text[index]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return len(text)


def template_references(template: str) -> list[Reference]:
    """Every VTL reference, nested ones (in call arguments) included."""
    references = []
    for match in _REFERENCE_START.finditer(template):
        index, members, calls = match.end(), [], []
        while True:
            member = _MEMBER.match(template, index)
            if not member:
                break
            members.append(member.group(1))
            index = member.end()
            if template.startswith("(", index):
                end = _balanced(template, index)
                calls.append((member.group(1), template[index + 1 : end - 1]))
                index = end
        references.append(
            Reference(match.group(1), tuple(members), tuple(calls), template[match.start() : index])
        )
    return references


def _template_locals(template: str) -> set[str]:
    return set(_SET_LOCAL.findall(template)) - BUILTIN_ROOTS


def _context_path_allowed(members: Sequence[str], allowed: frozenset[str]) -> bool:
    # Longest prefix that names a variable; later members are String methods.
    for length in range(len(members), 0, -1):
        path = ".".join(members[:length])
        wildcard = ".".join([*members[: length - 1], "*"])
        if path in allowed or wildcard in allowed:
            return True
    return False


def _jsonpath_argument(raw: str) -> str | None:
    stripped = raw.strip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "'\"":
        return stripped[1:-1]
    return None


def check_template_references(
    template: str,
    *,
    context_variables: frozenset[str] = CONTEXT_VARIABLES,
    input_fields: frozenset[str] | None = frozenset(),
) -> list[str]:
    """Every reference is a template-local variable or an API Gateway variable.

    ``input_fields``: the top-level fields ``$input.path``/``$input.json``
    may select (``None``: any; empty: only the whole body, ``'$'``).
    """
    problems = []
    local = _template_locals(template)
    for ref in template_references(template):
        if ref.root in local:
            continue
        if ref.root not in BUILTIN_ROOTS:
            problems.append(f"{ref.text}: ${ref.root} is neither an API Gateway variable nor #set")
            continue
        if not ref.members:
            problems.append(f"{ref.text}: ${ref.root} alone is not a value")
            continue
        if ref.root == "context" and not _context_path_allowed(ref.members, context_variables):
            problems.append(f"{ref.text}: $context.{'.'.join(ref.members)} is not an API variable")
        elif ref.root == "input":
            if ref.members[0] not in INPUT_MEMBERS:
                problems.append(f"{ref.text}: $input has no member {ref.members[0]!r}")
            for member, raw in ref.calls:
                if member not in ("path", "json"):
                    continue
                jsonpath = _jsonpath_argument(raw)
                if jsonpath is None:
                    problems.append(f"{ref.text}: the JSONPath must be a literal")
                    continue
                problems.extend(_jsonpath_problems(ref.text, jsonpath, input_fields))
        elif ref.root == "util" and ref.members[0] not in UTIL_MEMBERS:
            problems.append(f"{ref.text}: $util has no member {ref.members[0]!r}")
    return problems


def _jsonpath_problems(where: str, jsonpath: str, fields: frozenset[str] | None) -> list[str]:
    if jsonpath == "$" or fields is None:
        return []
    match = re.match(r"^\$\.([A-Za-z_][A-Za-z0-9_]*)", jsonpath)
    if not match:
        return [f"{where}: unsupported JSONPath {jsonpath!r}"]
    if match.group(1) not in fields:
        known = ", ".join(sorted(fields)) or "only '$' (the whole body)"
        return [f"{where}: {jsonpath!r} selects a field that does not exist (known: {known})"]
    return []


@functools.cache
def _stepfunctions_shape(operation: str, direction: str) -> tuple[frozenset[str], frozenset[str]]:
    """(members, required members) of a Step Functions request or response."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("stepfunctions")
    op = model.operation_model(operation)
    shape = op.input_shape if direction == "input" else op.output_shape
    return frozenset(shape.members), frozenset(shape.required_members)


class _Util:
    """``$util`` for rendering: JSON escaping as in ``escapeJavaScript``."""

    def escapeJavaScript(self, value: Any) -> str:
        return json.dumps("" if value is None else str(value))[1:-1].replace("'", "\\'")

    def parseJson(self, value: str) -> Any:
        return json.loads(value)


class _Input:
    def __init__(self, body: str) -> None:
        self.body = body

    def json(self, path: str) -> str:
        if path != "$":
            raise ValueError("only '$' is rendered")
        return json.dumps(json.loads(self.body))

    def path(self, path: str) -> Any:
        value: Any = json.loads(self.body)
        for part in path.lstrip("$").strip(".").split("."):
            if part:
                value = value.get(part) if isinstance(value, dict) else None
        return value


def render_request_template(
    template: str, *, body: str, claims: Mapping[str, str], resource_path: str
) -> str:
    """The template rendered with airspeed (LocalStack's Velocity) and minimal
    stand-ins for ``$input``/``$util``/``$context``."""
    import airspeed

    # The router's TOKEN authorizer (issue #13) answers principalId = the
    # token's sub (and context {"sub"}); the claims are kept as a Cognito
    # authorizer would set them, so reading any of them shows up as a
    # wrong user id rather than as a silent pass.
    authorizer: dict[str, object] = {"claims": dict(claims)}
    if "sub" in claims:
        authorizer.update(principalId=claims["sub"], sub=claims["sub"])
    context = {
        "resourcePath": resource_path,
        "httpMethod": "POST",
        "authorizer": authorizer,
    }
    return airspeed.Template(template).merge(
        {"input": _Input(body), "util": _Util(), "context": context}
    )


def check_request_template(
    template: str, *, state_machine_arns: Iterable[str] = (), resource_path: str = "/cells"
) -> list[str]:
    """References, then the rendered ``StartSyncExecution`` request: its
    members, the state machine it names, and the execution input's keys."""
    problems = check_template_references(template, input_fields=frozenset())
    members, required = _stepfunctions_shape("StartSyncExecution", "input")
    try:
        rendered = render_request_template(
            template,
            body=json.dumps({"marketId": "europe"}),
            claims={"email": "o'brien@example.com", "sub": "0b5e-ada'1"},
            resource_path=resource_path,
        )
    except Exception as error:  # airspeed's own errors: the template does not render
        return [*problems, f"the template does not render: {type(error).__name__}: {error}"]
    try:
        request = json.loads(rendered)
        execution_input = json.loads(request["input"])
    except (ValueError, KeyError, TypeError) as error:
        return [*problems, f"the rendered request is not a StartSyncExecution request: {error}"]
    unknown = sorted(set(request) - members)
    if unknown:
        problems.append(f"StartSyncExecution has no request members {unknown}")
    missing = sorted(required - set(request))
    if missing:
        problems.append(f"StartSyncExecution needs {missing}")
    arns = set(state_machine_arns)
    if arns and request.get("stateMachineArn") not in arns:
        problems.append(f"stateMachineArn {request.get('stateMachineArn')!r} is not in the program")
    if not isinstance(execution_input, dict) or set(execution_input) != EXECUTION_INPUT_KEYS:
        keys = sorted(execution_input) if isinstance(execution_input, dict) else execution_input
        problems.append(
            f"execution input keys {keys} must be exactly {sorted(EXECUTION_INPUT_KEYS)}"
        )
    elif execution_input["path"] != resource_path or not isinstance(execution_input["body"], dict):
        problems.append(f"execution input does not carry path and body through: {execution_input}")
    elif execution_input["userId"] != "0b5e-ada'1":
        problems.append(
            f"execution input userId {execution_input['userId']!r} is not the token's sub"
        )
    return problems


def check_response_template(template: str) -> list[str]:
    """References; every field read is one StartSyncExecution answers with."""
    members, _ = _stepfunctions_shape("StartSyncExecution", "output")
    return check_template_references(template, input_fields=members | SERVICE_ERROR_MEMBERS)
