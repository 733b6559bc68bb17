"""Mapping templates of the ``CellRouter`` REST API (pure: strings in, VTL out).

The API integrates each POST method with the Orchestrator through Step
Functions' ``StartSyncExecution`` (an ``AWS`` integration), so API Gateway
itself has to (1) turn the HTTP request into a ``StartSyncExecution`` request
and (2) turn the synchronous execution's description into an HTTP answer.

Request (:func:`request_template`)
----------------------------------
``StartSyncExecution`` takes the execution input as a *string* of JSON, so the
template writes a JSON document whose ``input`` member is a JSON string that
itself holds the object the handlers expect::

    {"path": $context.resourcePath, "httpMethod": $context.httpMethod,
     "userId": <the token's sub claim>, "body": <the request body, {} if empty>}

``userId`` is the issuer's immutable subject; no e-mail address is passed
(a user can change theirs, see ``handlers/cell_router/identity.py``).

Escaping is done piecewise rather than by building the inner document in a
VTL variable first (Velocity 1.7, which API Gateway runs, has no way to write
a double quote inside a double-quoted literal):

* the constant parts are written pre-escaped (``{\\"path\\": \\"``);
* ``body`` is ``$input.json('$')`` -- the body *re-serialised* by API Gateway,
  so a crafted body cannot inject members such as a second ``userId`` -- then
  escaped once for the outer string;
* ``userId`` is escaped twice: once to be a JSON string inside the input, once
  more to sit inside the outer string.

``$util.escapeJavaScript`` is a per-character mapping, so escaping the pieces
equals escaping the whole. It also turns ``'`` into ``\\'``, which is not a
JSON escape; AWS documents the fix used here,
``.replaceAll("\\\\'", "'")``, after every call. It is safe: an escaped
backslash is ``\\\\``, and only a real quote produces ``\\'``.

Every reference is rendered quietly (``$!``) through a string, because a
Velocity reference that resolves to null is printed *literally*: a context
without a ``sub`` claim must yield ``""``, which the handlers reject, never
the text ``$userId`` shared by every such caller.

Response (:func:`response_template`)
------------------------------------
``StartSyncExecution`` answers HTTP 200 whatever the execution did; its body
has ``status`` (``SUCCEEDED`` | ``FAILED`` | ``TIMED_OUT``), ``output`` (a
JSON string) and, on failure, ``error`` and ``cause``. The template:

* ``SUCCEEDED``: prints ``output`` as the body (status 200);
* a failure: sets ``$context.responseOverride.status`` from
  :data:`ERROR_STATUS` by error name (``TIMED_OUT`` counts as
  ``States.Timeout``), 500 for any other name, and prints
  ``{"error": <name>, "message": <text>}``. The message is the handler's own
  ``errorMessage`` (parsed from the Lambda ``cause``) only for the errors in
  :data:`HANDLER_MESSAGE_ERRORS`, whose messages are written for callers;
  everything else, and every 500, gets a fixed text -- a raw ``cause`` holds
  stack traces and is never returned; errors in :data:`RETRY_AFTER_SECONDS`
  also get a ``Retry-After`` header and ``retryAfterSeconds`` in the body;
* Step Functions refusing the call itself (no ``status``; a ``__type`` such
  as ``ThrottlingException``): 503 when it is throttling or an execution
  limit, 500 otherwise.
"""

from __future__ import annotations

import json
import re

#: HTTP status for each execution error name a caller may see. Names are the
#: handlers' exception classes (``handlers/cell_router/errors.py``) and Step
#: Functions' own; anything else is a 500 ``InternalError``.
ERROR_STATUS: dict[str, int] = {
    "InvalidRequest": 400,
    "Forbidden": 403,
    "AccessDenied": 403,
    "UserNotFound": 404,
    "UnknownMarket": 404,
    # This region is not the market's writer; the message names the region
    # and the router URL to call (two-region placement).
    "WrongRegion": 421,
    "NoCapacity": 503,
    "CellUnavailable": 503,
    "ProvisioningUnavailable": 503,
    "States.Timeout": 503,
    # A function that hit its own timeout (Lambda's name for it).
    "Sandbox.Timedout": 503,
    "Lambda.TooManyRequestsException": 503,
    "ServiceUnavailable": 503,
}

#: Fixed, caller-safe text per error (and for the 500 fallback).
ERROR_MESSAGES: dict[str, str] = {
    "InvalidRequest": "The request is not valid.",
    "Forbidden": "You are not allowed to do this.",
    "AccessDenied": "You are not allowed to do this.",
    "UserNotFound": "You have no cell yet; sign up through /cells.",
    "UnknownMarket": "This market is not served by this router.",
    "WrongRegion": "Call the router of the market's writer region.",
    "NoCapacity": "No cell can take a new user right now; retry later.",
    "CellUnavailable": "Your cell is not available right now; retry later.",
    "ProvisioningUnavailable": "The service is busy; retry later.",
    "States.Timeout": "The request took too long; retry later.",
    "Sandbox.Timedout": "The request took too long; retry later.",
    "Lambda.TooManyRequestsException": "The service is busy; retry later.",
    "ServiceUnavailable": "The service is busy; retry later.",
}

INTERNAL_ERROR = "InternalError"
INTERNAL_MESSAGE = "The request could not be completed."

#: Errors raised by our handlers with messages meant for the caller.
HANDLER_MESSAGE_ERRORS: tuple[str, ...] = (
    "InvalidRequest",
    "UserNotFound",
    "NoCapacity",
    "CellUnavailable",
    "UnknownMarket",
    "WrongRegion",
    "ServiceUnavailable",
)

#: Seconds a caller should wait before retrying, per error: sent as the
#: ``Retry-After`` header and the body's ``retryAfterSeconds``. Throttling
#: and timeouts clear in seconds; a new cell takes minutes to provision.
RETRY_AFTER_SECONDS: dict[str, int] = {
    "ServiceUnavailable": 1,
    "Lambda.TooManyRequestsException": 1,
    "ProvisioningUnavailable": 5,
    "States.Timeout": 2,
    "Sandbox.Timedout": 2,
    "CellUnavailable": 30,
    "NoCapacity": 60,
}

#: The response header that carries the retry hint (declared on every method
#: response whose status can carry it).
RETRY_AFTER_HEADER = "Retry-After"

#: The request validator's model (JSON Schema draft 4, as API Gateway takes
#: it): a JSON object of the members the handlers read, each bounded, so no
#: body near Step Functions' 256 KiB input limit can reach an execution.
#: Everything else -- not JSON, not an object, an unknown member, a value too
#: long -- is a 400 from API Gateway before the integration runs.
REQUEST_BODY_SCHEMA: dict = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "CellRouterRequest",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "marketId": {"type": "string", "maxLength": 64},
        "cellId": {"type": "string", "maxLength": 128},
        "cellUrl": {"type": "string", "maxLength": 2048},
        "cellUrl2": {"type": "string", "maxLength": 2048},
    },
}

#: Members of the execution input the request template writes; equal to what
#: ``handlers/cell_router/input_parsing.parse_router_request`` reads plus the
#: ``path`` the state machine routes on.
EXECUTION_INPUT_FIELDS: tuple[str, ...] = ("path", "httpMethod", "userId", "body")

#: Status codes the methods declare (200 plus every status the template sets).
RESPONSE_STATUS_CODES: tuple[str, ...] = tuple(
    str(code) for code in sorted({200, 500, *ERROR_STATUS.values()})
)

#: Status codes whose answers may carry ``Retry-After``.
RETRY_AFTER_STATUS_CODES: tuple[str, ...] = tuple(
    str(code) for code in sorted({ERROR_STATUS[name] for name in RETRY_AFTER_SECONDS})
)

# ``$util.escapeJavaScript`` followed by AWS's documented fix for ``\'``.
_JSON_ESCAPE = """.replaceAll("\\\\'", "'")"""

_ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:states:[a-z0-9-]+:\d{12}:stateMachine:[A-Za-z0-9_-]+$")


def _vtl_literal(text: str) -> str:
    """``text`` for a double-quoted VTL literal: refuses what Velocity would
    interpret (references, directives) or could not hold (quotes)."""
    if any(ch in text for ch in '$#"\\') or not text.isprintable():
        raise ValueError(f"message unsafe in a VTL literal: {text!r}")
    return text


def _escaped(expression: str) -> str:
    """VTL for ``expression`` JSON-string-escaped (as a method chain)."""
    return f"$util.escapeJavaScript({expression}){_JSON_ESCAPE}"


def request_template(state_machine_arn: str) -> str:
    """The ``application/json`` request template of every method."""
    if not _ARN_PATTERN.fullmatch(state_machine_arn):
        raise ValueError(f"not a state machine ARN: {state_machine_arn!r}")
    user_once = _escaped("$userId")
    return (
        "## StartSyncExecution request; see components/api_templates.py for the escaping.\n"
        # The TOKEN authorizer's principalId is the token's ``sub``.
        '#set($userId = "$!context.authorizer.principalId")\n'
        '#set($rawBody = "$!input.body")\n'
        '#if($rawBody.matches("\\s*"))#set($bodyJson = "{}")'
        "#else#set($bodyJson = \"$!input.json('$')\")#end\n"
        f"#set($userIdOnce = {user_once})\n"
        "{\n"
        f'  "stateMachineArn": {json.dumps(state_machine_arn)},\n'
        '  "input": "{'
        '\\"path\\": \\"$context.resourcePath\\", '
        '\\"httpMethod\\": \\"$context.httpMethod\\", '
        f'\\"userId\\": \\"{_escaped("$userIdOnce")}\\", '
        f'\\"body\\": {_escaped("$bodyJson")}'
        '}"\n'
        "}\n"
    )


def response_template() -> str:
    """The ``application/json`` template of the (only, default) 200
    integration response: success passes through, failures set the status."""
    lines = [
        "## StartSyncExecution answer -> HTTP; see components/api_templates.py.",
        "#set($status = \"$!input.path('$.status')\")",
        '#if($status == "SUCCEEDED")',
        "$input.path('$.output')",
        "#else",
        "#set($error = \"$!input.path('$.error')\")",
        "#set($serviceError = \"$!input.path('$.__type')\")",
        '#if($status == "TIMED_OUT")#set($error = "States.Timeout")#end',
        '#if($status == "")',
        '#if($serviceError.contains("Throttling") || $serviceError.contains("LimitExceeded"))'
        '#set($error = "ServiceUnavailable")#else#set($error = "")#end',
        "#end",
        '#set($detail = "")',
        '#set($retryAfter = "")',
        "#set($cause = \"$!input.path('$.cause')\")",
        '#if($cause.startsWith("{"))'
        "#set($parsedCause = $util.parseJson($cause))"
        '#set($detail = "$!parsedCause.errorMessage")#end',
    ]
    first = True
    for name, code in ERROR_STATUS.items():
        keyword = "#if" if first else "#elseif"
        first = False
        message = _vtl_literal(ERROR_MESSAGES[name])
        retry_after = RETRY_AFTER_SECONDS.get(name)
        lines.append(
            f'{keyword}($error == "{name}")#set($code = {code})'
            f'#set($publicError = "{name}")#set($message = "{message}")'
            + (f'#set($retryAfter = "{retry_after}")' if retry_after is not None else "")
        )
        if name in HANDLER_MESSAGE_ERRORS:
            lines.append('#if($detail != "")#set($message = $detail)#end')
    lines += [
        "#else",
        f'#set($code = 500)#set($publicError = "{INTERNAL_ERROR}")'
        f'#set($message = "{_vtl_literal(INTERNAL_MESSAGE)}")',
        "#end",
        "#set($context.responseOverride.status = $code)",
        '#if($retryAfter != "")',
        f"#set($context.responseOverride.header.{RETRY_AFTER_HEADER} = $retryAfter)",
        '{"error": "$publicError", "message": "'
        + _escaped("$message")
        + '", "retryAfterSeconds": $retryAfter}',
        "#else",
        '{"error": "$publicError", "message": "' + _escaped("$message") + '"}',
        "#end",
        "#end",
    ]
    return "\n".join(lines) + "\n"


#: Gateway responses (authorizer 401/403, throttling 429, 5xx) as JSON too.
#: ``$context.error.messageString`` is already a quoted JSON string.
GATEWAY_RESPONSE_TEMPLATE = (
    '{"error": "$context.error.responseType", "message": $context.error.messageString}'
)

#: Access log line: who (the token's ``sub``, never the email), what, how it
#: went -- never a body.
ACCESS_LOG_FORMAT: dict[str, str] = {
    "requestId": "$context.requestId",
    "extendedRequestId": "$context.extendedRequestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.authorizer.principalId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integration.latency",
    "integrationStatus": "$context.integration.status",
    "integrationError": "$context.integration.error",
    "errorType": "$context.error.responseType",
    "errorMessage": "$context.error.message",
    "xrayTraceId": "$context.xrayTraceId",
}


def access_log_format() -> str:
    """The stage's access log format: one JSON object per request."""
    return json.dumps(ACCESS_LOG_FORMAT, separators=(",", ":"))
