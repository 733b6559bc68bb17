"""The API's mapping templates, rendered with airspeed (LocalStack's Velocity).

API Gateway's own objects are emulated below in Python. What the emulation
cannot prove, and only a deployed API can:

* ``$util.escapeJavaScript`` is emulated after Apache Commons Lang
  ``StringEscapeUtils.escapeJavaScript`` (``'`` -> ``\\'``, ``/`` -> ``\\/``,
  control characters and every non-ASCII UTF-16 unit as ``\\uXXXX``), which
  is what AWS documents; API Gateway's exact implementation is not public.
  Any of those variants yields valid JSON, which is all the templates rely on.
* ``$input.json('$')`` is emulated as "parse, then re-serialise"; API Gateway
  rejects a body it cannot parse before the template runs (a 400), emulated
  here by raising.
* airspeed is not Velocity 1.7: the grammar used here (``#set``, ``#if``,
  quiet references, Java ``String`` methods ``matches``/``replaceAll``/
  ``startsWith``/``contains``, ``#set`` on ``$context.responseOverride``) is
  the common subset both implement, with the same string-literal rules (no
  backslash escapes). Velocity 1.7's newline handling around directives
  differs from airspeed's; every assertion parses the output as JSON, where
  that whitespace does not matter.
* airspeed prints an unresolved reference as nothing, where Velocity prints
  its source text (``$userId``). So the rendering cannot prove the quiet
  (``$!``) references that guard a missing claim; a static test does.
"""

from __future__ import annotations

import json
import re
from typing import Any

import airspeed
import botocore.session
import pytest

from components import api_templates
from components.api_templates import (
    ERROR_STATUS,
    EXECUTION_INPUT_FIELDS,
    HANDLER_MESSAGE_ERRORS,
    request_template,
    response_template,
)
from components.orchestrator_asl import FUNCTION_ERRORS, build_orchestrator_definition
from handlers.cell_router import errors

ARN = "arn:aws:states:eu-west-2:123456789012:stateMachine:cell-router-Orchestrator-abc1234"


# --------------------------------------------------------------------------- #
# API Gateway's $input / $util / $context, in Python
# --------------------------------------------------------------------------- #
def escape_javascript(value: str | None) -> str | None:
    """Commons Lang 2 ``StringEscapeUtils.escapeJavaScript`` on UTF-16 units."""
    if value is None:
        return None
    out = []
    units = value.encode("utf-16-be")
    for i in range(0, len(units), 2):
        code = int.from_bytes(units[i : i + 2], "big")
        ch = chr(code) if code < 0xD800 or code > 0xDFFF else None
        if code > 0x7F:
            out.append(f"\\u{code:04X}")
        elif code < 32:
            out.append(
                {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}.get(code, f"\\u{code:04X}")
            )
        elif ch in ("'", '"', "\\", "/"):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


class ApiGatewayInput:
    def __init__(self, body: str) -> None:
        self.body = body

    def json(self, path: str) -> str:
        assert path == "$", "only $input.json('$') is emulated"
        return json.dumps(json.loads(self.body))  # raises like API Gateway's 400

    def path(self, path: str) -> Any:
        assert re.fullmatch(r"\$\.[A-Za-z_]+", path), path
        return json.loads(self.body).get(path[2:])


class ApiGatewayUtil:
    def escapeJavaScript(self, value: str | None) -> str | None:
        return escape_javascript(value)

    def parseJson(self, value: str) -> Any:
        return json.loads(value)


def render_request(body: str, claims: dict[str, str] | None, path: str = "/cells") -> dict:
    # The TOKEN authorizer (issue #13) answers principalId = the token's sub,
    # and context {"sub": ...}; the token's other claims never reach the
    # template. A missing subject leaves principalId unset.
    claims = claims or {}
    authorizer = {"sub": claims["sub"], "principalId": claims["sub"]} if "sub" in claims else {}
    context = {
        "resourcePath": path,
        "httpMethod": "POST",
        "authorizer": {**authorizer, "claims": claims},
    }
    rendered = airspeed.Template(request_template(ARN)).merge(
        {"input": ApiGatewayInput(body), "util": ApiGatewayUtil(), "context": context}
    )
    return json.loads(rendered)


def render_response(execution: dict[str, Any]) -> tuple[int, Any]:
    """(HTTP status, parsed body) for a StartSyncExecution answer."""
    return render_response_with_headers(execution)[:2]


def render_response_with_headers(execution: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
    """(HTTP status, parsed body, overridden headers) for a StartSyncExecution answer."""
    context: dict[str, Any] = {"responseOverride": {"status": None, "header": {}}}
    rendered = airspeed.Template(response_template()).merge(
        {"input": ApiGatewayInput(json.dumps(execution)), "util": ApiGatewayUtil(),
         "context": context}
    )  # fmt: skip
    status = context["responseOverride"]["status"] or 200
    return status, json.loads(rendered), dict(context["responseOverride"]["header"])


SUB = "9a1c3f0e-5b2d-4c8e-a7f6-0123456789ab"


def _execution_input(body: str, sub: str | None = SUB, **kw) -> dict:
    # A Cognito ID token's claims: the e-mail is there, and must not be used.
    claims = {"email": "user@example.com", "email_verified": "true", "sub": sub}
    if sub is None:
        del claims["sub"]
    request = render_request(body, claims, **kw)
    assert set(request) == {"stateMachineArn", "input"}
    assert request["stateMachineArn"] == ARN
    assert isinstance(request["input"], str)
    return json.loads(request["input"])


# --------------------------------------------------------------------------- #
# request template
# --------------------------------------------------------------------------- #
def test_escape_emulation_matches_the_documented_rules():
    assert escape_javascript("it's") == "it\\'s"
    assert escape_javascript('a"b\\c/d\n\t\x01é😀') == (
        'a\\"b\\\\c\\/d\\n\\t\\u0001\\u00E9\\uD83D\\uDE00'
    )


def test_normal_body_becomes_the_execution_input():
    assert _execution_input('{"marketId": "europe"}') == {
        "path": "/cells",
        "httpMethod": "POST",
        "userId": SUB,
        "body": {"marketId": "europe"},
    }


@pytest.mark.parametrize("body", ["", "   ", "\n\t "])
def test_empty_body_is_an_empty_object(body):
    assert _execution_input(body, path="/mapper") == {
        "path": "/mapper",
        "httpMethod": "POST",
        "userId": SUB,
        "body": {},
    }


NASTY = {
    "quote": 'say "hi"',
    "apostrophe": "O'Brien's",
    "backslash": "C:\\path\\",
    "escapes": "\\' \\\\' \\\"",
    "newlines": "line1\nline2\r\n\ttabbed",
    "control": "\x00\x1f\x7f",
    "unicode": "zürich \u2013 東京 😀",
    "script": "</script><script>alert('x')</script>",
    "velocity": "$context.authorizer.claims.email #set($x = 1) ${y}",
    "nested": {"list": [1, 2.5, True, None, "x'y"], "obj": {}},
}


def test_awkward_strings_in_the_body_survive_exactly():
    body = json.dumps(NASTY)
    assert _execution_input(body)["body"] == NASTY
    # The same with the body sent as literal UTF-8 rather than \\u escapes.
    assert _execution_input(json.dumps(NASTY, ensure_ascii=False))["body"] == NASTY


@pytest.mark.parametrize(
    "sub",
    ["o'brien", 'a"b', "back\\slash", "ünï@例え.jp"],
)
def test_awkward_subject_claims_survive_exactly(sub):
    # Cognito's subjects are UUIDs; whatever an issuer sends reaches the
    # handlers intact, and they refuse what is not a subject.
    assert _execution_input("{}", sub=sub)["userId"] == sub


def test_identity_comes_from_the_tokens_subject_never_the_body():
    sneaky = json.dumps({"userId": "victim", "x": '", "userId": "victim'})
    execution_input = _execution_input(sneaky)
    assert execution_input["userId"] == SUB
    assert execution_input["body"]["userId"] == "victim"  # just data


def test_the_email_claim_is_not_passed_at_all():
    # Issue #10: a user can change their own address (Cognito applies it
    # before verification), so the address must not be an identity.
    execution_input = _execution_input("{}")
    assert set(execution_input) == set(EXECUTION_INPUT_FIELDS)
    assert "user@example.com" not in json.dumps(execution_input)
    assert "claims.email" not in request_template(ARN)


def test_a_context_without_a_subject_gives_an_empty_user_id():
    # The handlers reject "" (never a literal "$userId" that every such
    # caller would share).
    assert _execution_input("{}", sub=None)["userId"] == ""


def test_every_value_that_may_be_missing_is_read_quietly():
    # Velocity would print a null non-quiet reference as its own source text.
    loud = r"\$(?:context\.authorizer|input\.(?:body|json|path))[^\s\"]*"
    assert re.findall(loud, request_template(ARN)) == []
    assert '"$!context.authorizer.principalId"' in request_template(ARN)
    assert '"$!input.body"' in request_template(ARN)
    # Only the success branch reads a value loudly: output, present on SUCCEEDED.
    assert re.findall(r"\$input\.path\('([^']+)'\)", response_template()) == ["$.output"]


def test_non_object_bodies_are_passed_for_the_handler_to_reject():
    assert _execution_input("[1, 2]")["body"] == [1, 2]
    assert _execution_input('"text"')["body"] == "text"


def test_unparseable_body_is_refused_before_anything_starts():
    with pytest.raises(airspeed.TemplateExecutionError, match="JSONDecodeError"):
        _execution_input("{not json")


def test_request_template_refuses_a_non_arn():
    with pytest.raises(ValueError, match="state machine ARN"):
        request_template('arn"; #set($x = 1)')


def test_execution_input_members_are_what_the_handlers_and_asl_read():
    assert EXECUTION_INPUT_FIELDS == ("path", "httpMethod", "userId", "body")
    assert set(_execution_input("{}")) == set(EXECUTION_INPUT_FIELDS)
    definition = build_orchestrator_definition(
        dispatcher_arn="d", scaler_arn="s", mapper_arn="m", validator_arn="v"
    )
    text = json.dumps(definition)
    fields = set(re.findall(r'"\$\.([A-Za-z]+)', text))
    # The Choice routes on $.path; every other path the ASL names is its own.
    assert "path" in fields
    assert fields & set(EXECUTION_INPUT_FIELDS) == {"path"}


def test_templates_read_only_fields_that_exist():
    model = botocore.session.get_session().get_service_model("stepfunctions")
    answer = set(model.operation_model("StartSyncExecution").output_shape.members)
    request = set(model.operation_model("StartSyncExecution").input_shape.members)
    read = set(re.findall(r"\$!?input\.path\('\$\.([A-Za-z_]+)'\)", response_template()))
    # __type is the error type of a refused call (JSON protocol), not a member.
    assert read == {"status", "output", "error", "cause", "__type"}
    assert read - {"__type"} <= answer
    assert set(render_request("{}", {"sub": "a-b-c"})) <= request
    contexts = set(
        re.findall(r"\$!?context\.([A-Za-z.]+)", request_template(ARN) + response_template())
    )
    assert contexts == {
        "authorizer.principalId",
        "resourcePath",
        "httpMethod",
        "responseOverride.status",
        # ``Retry-After``: the pattern stops at the hyphen.
        "responseOverride.header.Retry",
    }


# --------------------------------------------------------------------------- #
# response template
# --------------------------------------------------------------------------- #
def _lambda_cause(error: str, message: str) -> str:
    return json.dumps({
        "errorMessage": message, "errorType": error, "requestId": "r-1",
        "stackTrace": ['  File "/var/task/handlers/cell_router/store.py", line 9, in x'],
    })  # fmt: skip


def test_success_returns_the_output_with_200():
    output = {"cellId": "cell-1", "endpoints": [{"url": "https://a", "region": "eu-west-1"}],
              "note": "it's \"quoted\" </script>"}  # fmt: skip
    status, body = render_response({"status": "SUCCEEDED", "output": json.dumps(output)})
    assert (status, body) == (200, output)


@pytest.mark.parametrize(("error", "expected"), sorted(ERROR_STATUS.items()))
def test_each_error_name_maps_to_its_status(error, expected):
    status, body = render_response(
        {"status": "FAILED", "error": error, "cause": _lambda_cause(error, "handler's text")}
    )
    assert status == expected
    assert body["error"] == error
    if error in HANDLER_MESSAGE_ERRORS:
        assert body["message"] == "handler's text"
    else:
        assert body["message"] == api_templates.ERROR_MESSAGES[error]
    assert "stackTrace" not in json.dumps(body)


def test_the_status_codes_the_issue_names():
    for error, status in [("InvalidRequest", 400), ("UserNotFound", 404), ("NoCapacity", 503),
                          ("States.Timeout", 503), ("Forbidden", 403)]:  # fmt: skip
        assert render_response({"status": "FAILED", "error": error, "cause": ""})[0] == status


def test_the_errors_issue_11_adds_have_their_status_message_and_retry_hint():
    for error, status in [("UnknownMarket", 404), ("WrongRegion", 421),
                          ("ServiceUnavailable", 503)]:  # fmt: skip
        got, body, headers = render_response_with_headers(
            {"status": "FAILED", "error": error, "cause": _lambda_cause(error, "what to do")}
        )
        assert (got, body["error"], body["message"]) == (status, error, "what to do")
        if error == "ServiceUnavailable":
            assert headers == {"Retry-After": "1"}
            assert body["retryAfterSeconds"] == 1
        else:
            assert headers == {} and "retryAfterSeconds" not in body
    # A throttled StartSyncExecution call is a ServiceUnavailable too.
    got, body, headers = render_response_with_headers({"__type": "ThrottlingException"})
    assert (got, body["error"], headers) == (503, "ServiceUnavailable", {"Retry-After": "1"})


def test_every_503_carries_a_retry_hint():
    for error, status in ERROR_STATUS.items():
        if status != 503:
            continue
        _, body, headers = render_response_with_headers(
            {"status": "FAILED", "error": error, "cause": ""}
        )
        assert headers["Retry-After"] == str(api_templates.RETRY_AFTER_SECONDS[error]), error
        assert body["retryAfterSeconds"] == api_templates.RETRY_AFTER_SECONDS[error]


def test_handler_messages_with_quotes_stay_valid_json():
    message = "marketId must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-' \"x\"\n"
    status, body = render_response(
        {"status": "FAILED", "error": "InvalidRequest",
         "cause": _lambda_cause("InvalidRequest", message)}
    )  # fmt: skip
    assert (status, body) == (400, {"error": "InvalidRequest", "message": message})


def test_a_plain_text_cause_falls_back_to_the_fixed_message():
    status, body = render_response(
        {"status": "FAILED", "error": "InvalidRequest", "cause": "Unsupported request path"}
    )
    assert (status, body["message"]) == (400, api_templates.ERROR_MESSAGES["InvalidRequest"])


@pytest.mark.parametrize(
    "error", ["ConfigurationError", "Lambda.Unknown", "States.Runtime", "Runtime.ImportModuleError"]
)
def test_anything_else_is_a_500_that_leaks_nothing(error):
    cause = _lambda_cause(error, "secret table arn:aws:dynamodb:... and a trace")
    status, body = render_response({"status": "FAILED", "error": error, "cause": cause})
    assert status == 500
    assert body == {"error": "InternalError", "message": api_templates.INTERNAL_MESSAGE}


def test_a_timed_out_execution_is_503():
    status, body = render_response({"status": "TIMED_OUT"})
    assert (status, body["error"]) == (503, "States.Timeout")


@pytest.mark.parametrize(
    ("service_error", "status"),
    [
        ("ThrottlingException", 503),
        ("com.amazonaws.swf.service.v2.model#ExecutionLimitExceeded", 503),
        ("AccessDeniedException", 500),
        ("InvalidExecutionInput", 500),
    ],
)
def test_step_functions_refusing_the_call(service_error, status):
    got, body = render_response({"__type": service_error, "message": "internal detail"})
    assert got == status
    assert "internal detail" not in json.dumps(body)


def test_every_routing_error_the_handlers_raise_has_a_status():
    raised = {cls.__name__ for cls in errors.CellRouterError.__subclasses__()}
    # CellLimitReached is the registrar's (EventBridge), never on the API's
    # path. A misconfigured function is our fault: ConfigurationError (the
    # house's one, from handlers/common/contract.py) has no status, so 500.
    assert raised - set(ERROR_STATUS) == {"CellLimitReached"}
    assert errors.ConfigurationError.__name__ not in ERROR_STATUS
    assert set(FUNCTION_ERRORS) <= set(ERROR_STATUS)


def test_declared_status_codes_cover_every_status_the_template_sets():
    # 421 WrongRegion is new with issue #11.
    assert set(api_templates.RESPONSE_STATUS_CODES) == {
        "200", "400", "403", "404", "421", "500", "503"
    }  # fmt: skip
    assert {str(code) for code in ERROR_STATUS.values()} <= set(api_templates.RESPONSE_STATUS_CODES)


def test_access_log_format_is_json_without_bodies_or_emails():
    fields = json.loads(api_templates.access_log_format())
    assert fields["caller"] == "$context.authorizer.principalId"
    text = api_templates.access_log_format()
    for forbidden in ("email", "$input", "body", "requestOverride"):
        assert forbidden not in text
    for needed in ("requestId", "ip", "httpMethod", "resourcePath", "status", "responseLatency",
                   "integrationError"):  # fmt: skip
        assert needed in fields


def test_gateway_responses_render_json():
    rendered = airspeed.Template(api_templates.GATEWAY_RESPONSE_TEMPLATE).merge(
        {"context": {"error": {"responseType": "UNAUTHORIZED",
                               "messageString": json.dumps("Unauthorized")}}}
    )  # fmt: skip
    assert json.loads(rendered) == {"error": "UNAUTHORIZED", "message": "Unauthorized"}


# --------------------------------------------------------------------------- #
# request body validation (issue #10: oversize and non-JSON bodies)
# --------------------------------------------------------------------------- #
#: Step Functions' maximum execution input (256 KiB, UTF-8).
STEP_FUNCTIONS_INPUT_LIMIT = 256 * 1024


def _body_allowed(body: str) -> bool:
    """What API Gateway's body validator decides for ``body`` (JSON Schema
    draft 4, as API Gateway applies the model); not JSON is refused."""
    import jsonschema

    try:
        document = json.loads(body)
    except ValueError:
        return False
    validator = jsonschema.Draft4Validator(api_templates.REQUEST_BODY_SCHEMA)
    return validator.is_valid(document)


def test_the_body_model_is_a_valid_draft4_schema():
    import jsonschema

    jsonschema.Draft4Validator.check_schema(api_templates.REQUEST_BODY_SCHEMA)


@pytest.mark.parametrize(
    "body",
    [
        "{}",
        '{"marketId": "europe"}',
        '{"cellId": "c1", "cellUrl": "https://a.example.com", "cellUrl2": "https://b.example.com"}',
    ],
)
def test_the_bodies_clients_send_are_allowed(body):
    assert _body_allowed(body)


@pytest.mark.parametrize(
    "body",
    [
        # The review's demonstration: a body over Step Functions' input limit
        # reached StartSyncExecution and came back as a 500.
        json.dumps({"marketId": "x" * 300_000}),
        json.dumps({"padding": "x" * 300_000}),
        json.dumps({"cellUrl": "https://a.example.com/" + "a" * 2048}),
        "marketId=europe",
        "{not json",
        "[1, 2]",
        '"text"',
        '{"marketId": 7}',
    ],
    ids=["oversize-member", "oversize-unknown", "long-url", "form", "broken", "list", "string",
         "number"],
)  # fmt: skip
def test_oversize_and_malformed_bodies_are_refused_before_any_execution(body):
    assert not _body_allowed(body)


def test_the_largest_allowed_body_fits_a_step_functions_input():
    # Every member at its maximum length, made of the character the two
    # escaping rounds inflate most (a backslash: 1 -> 4 bytes).
    schema = api_templates.REQUEST_BODY_SCHEMA["properties"]
    largest = {name: "\\" * spec["maxLength"] for name, spec in schema.items()}
    body = json.dumps(largest)
    assert _body_allowed(body)
    request = render_request(body, {"sub": SUB})
    assert len(request["input"].encode("utf-8")) < STEP_FUNCTIONS_INPUT_LIMIT
