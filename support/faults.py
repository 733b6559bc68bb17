"""A botocore-level fault injector: AWS errors, throttling, latency, timeouts.

The tests and the drill use it to put a client under AWS's real failure
modes without editing the code under test. It hooks botocore's
``before-send`` event, so a faulted request has been built, validated and
signed exactly as for AWS, and botocore's own retry logic sees the fault
exactly as it would see AWS's answer (a throttle is retried per the client's
retry mode; a timeout is a ``ReadTimeoutError``).

Spec syntax (``parse_faults``), rules separated by commas::

    rule    := target "=" fault ["@" rate] ["*" times]
    target  := service ["[" region "]"] [":" operation]
    service := a boto3 client name: dynamodb, sqs, lexv2-runtime, ...
    operation := an API operation name (TransactWriteItems) or "*" (default)
    fault   := ErrorCode                 an AWS error answer with that code
                                         (ThrottlingException, InternalServerError, ...)
             | "timeout"                 the read times out (ReadTimeoutError)
             | "connect-timeout"         the connection times out (ConnectTimeoutError)
             | "latency:" seconds        the call is delayed, then sent as usual
             | "cancel:" Reason [":" i]  DynamoDB transactions only: TransactionCanceledException
                                         with CancellationReasons Code=Reason on item i
                                         (default: the last item) and "None" on the others
    rate    := probability in [0, 1] that a matching call is faulted (default 1)
    times   := fault at most this many calls (default: no limit)

for example::

    dynamodb:TransactWriteItems=cancel:TransactionConflict@0.3,dynamodb:*=ThrottlingException@0.1
    sqs:SendMessage=timeout@1
    lexv2-runtime[us-east-1]=timeout          # lose one region's Lex runtime
    dynamodb:GetItem=ThrottlingException*2    # only the first two GetItems

Rules are tried in order for each HTTP attempt; each matching rule draws
against its rate (one seeded RNG per injector) and the first hit applies.

Use::

    injector = FaultInjector(parse_faults(spec), seed=7, sleep=clock.advance)
    with injector.active():            # every client created while active
        ...
    with injector.active(client):      # or: only these clients / sessions
        ...
    injector.injected                  # Counter of (service, operation, fault)

Time: ``latency:s`` calls ``sleep(s)``; a timeout calls ``sleep`` with the
client's own connect or read timeout before raising, so a simulated clock
(``sleep=clock.advance``) sees what the call would have cost. The default
``sleep`` is ``time.sleep`` (real time).

In-process moto: moto answers requests with another ``before-send`` handler,
and botocore runs every handler even after one has answered. So that moto
never applies a request the injector refused, a faulted request's URL is
pointed at ``fault-injected.invalid`` (moto leaves unknown hosts alone) before
the injector's answer is returned. Against a moto server or AWS, nothing is
sent at all.
"""

from __future__ import annotations

import contextlib
import functools
import json
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

import boto3
import botocore.handlers
import botocore.session
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError, UnknownServiceError

from support.lex_sim import ResponseBody

__all__ = [
    "Fault",
    "FaultInjector",
    "FaultRule",
    "FaultSpecError",
    "parse_faults",
]

TIMEOUT = "timeout"
CONNECT_TIMEOUT = "connect-timeout"
LATENCY = "latency"
CANCEL = "cancel"
ERROR = "error"

#: Where a faulted request is pointed so an in-process moto ignores it.
FAULTED_URL = "https://fault-injected.invalid/"

#: DynamoDB's transaction cancellation reason codes (API reference,
#: TransactWriteItems, "Errors").
CANCELLATION_REASONS = frozenset(
    {
        "ConditionalCheckFailed",
        "ItemCollectionSizeLimitExceeded",
        "TransactionConflict",
        "ProvisionedThroughputExceeded",
        "ThrottlingError",
        "ValidationError",
    }
)

#: HTTP status of an injected error by code; anything else is a 400, as AWS
#: answers client-side errors (throttling included, for DynamoDB and SQS).
_ERROR_STATUS = {
    "InternalServerError": 500,
    "InternalFailure": 500,
    "InternalServerException": 500,
    "InternalError": 500,
    "ServiceUnavailable": 503,
    "ServiceUnavailableException": 503,
    "TooManyRequestsException": 429,
    "BadGatewayException": 502,
    "ResourceNotFoundException": 400,
    "AccessDeniedException": 400,
}

_CODE = re.compile(r"[A-Z][A-Za-z0-9]{2,99}")
_RULE = re.compile(
    r"""^\s*(?P<service>[a-z0-9][a-z0-9-]*)
        (?:\[(?P<region>[a-z0-9-]+)\])?
        (?::(?P<operation>\*|[A-Za-z0-9]+))?
        \s*=\s*(?P<fault>[^@*]+?)
        \s*(?:@\s*(?P<rate>[0-9.]+))?
        \s*(?:\*\s*(?P<times>[0-9]+))?\s*$""",
    re.VERBOSE,
)


class FaultSpecError(ValueError):
    """A fault spec that cannot be parsed; the message names the rule and what to change."""


@dataclass(frozen=True)
class Fault:
    """What happens to a faulted call.

    ``kind`` is one of ``error`` (``code`` = the AWS error code), ``timeout``,
    ``connect-timeout``, ``latency`` (``seconds``) or ``cancel`` (``code`` =
    the cancellation reason, ``item`` = its index, ``None`` = the last).
    """

    kind: str
    code: str = ""
    seconds: float = 0.0
    item: int | None = None

    @property
    def label(self) -> str:
        if self.kind == ERROR:
            return self.code
        if self.kind == LATENCY:
            return f"latency:{self.seconds:g}"
        if self.kind == CANCEL:
            return f"cancel:{self.code}" + ("" if self.item is None else f":{self.item}")
        return self.kind


@dataclass(frozen=True)
class FaultRule:
    """One rule: calls of ``service`` (a boto3 client name) and ``operation``
    (``*`` = any), optionally only in ``region``, get ``fault`` with
    probability ``rate``, at most ``times`` times (``None`` = no limit)."""

    service: str
    operation: str
    fault: Fault
    rate: float = 1.0
    times: int | None = None
    region: str | None = None

    @property
    def service_id(self) -> str:
        """botocore's event name for the service (``lexv2-runtime`` -> ``lex-runtime-v2``)."""
        return _service_model(self.service).service_id.hyphenize()

    def matches(self, service_id: str, operation: str, region: str) -> bool:
        return (
            service_id == self.service_id
            and self.operation in ("*", operation)
            and (self.region is None or self.region == region)
        )

    def __str__(self) -> str:
        target = self.service + (f"[{self.region}]" if self.region else "")
        text = f"{target}:{self.operation}={self.fault.label}@{self.rate:g}"
        return text + ("" if self.times is None else f"*{self.times}")


@functools.cache
def _service_model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def parse_faults(spec: str) -> tuple[FaultRule, ...]:
    """Parse a comma-separated fault spec (module docstring); an empty spec
    means no faults. Raises ``FaultSpecError`` naming the first bad rule."""
    rules = []
    for raw in spec.split(","):
        if raw.strip():
            rules.append(_parse_rule(raw.strip()))
    return tuple(rules)


def _parse_rule(text: str) -> FaultRule:
    match = _RULE.match(text)
    if match is None:
        raise FaultSpecError(
            f"fault rule {text!r} is not 'service[:Operation]=fault[@rate][*times]',"
            " e.g. 'dynamodb:GetItem=ThrottlingException@0.3'"
        )
    service, operation = match["service"], match["operation"] or "*"
    try:
        model = _service_model(service)
    except UnknownServiceError:
        raise FaultSpecError(
            f"fault rule {text!r}: unknown service {service!r}; use a boto3 client name"
            " such as dynamodb, sqs or lexv2-runtime"
        ) from None
    if operation != "*" and operation not in model.operation_names:
        raise FaultSpecError(
            f"fault rule {text!r}: {service} has no operation {operation!r}"
            " (operation names are the API's, e.g. TransactWriteItems)"
        )
    fault = _parse_fault(text, match["fault"].strip(), service, operation)
    rate = 1.0
    if match["rate"] is not None:
        try:
            rate = float(match["rate"])
        except ValueError:
            rate = -1.0
        if not 0.0 <= rate <= 1.0:
            raise FaultSpecError(f"fault rule {text!r}: rate must be a number in [0, 1]")
    times = int(match["times"]) if match["times"] is not None else None
    if times is not None and times < 1:
        raise FaultSpecError(f"fault rule {text!r}: '*times' must be at least 1")
    return FaultRule(service, operation, fault, rate, times, match["region"])


def _parse_fault(rule: str, text: str, service: str, operation: str) -> Fault:
    if text in (TIMEOUT, CONNECT_TIMEOUT):
        return Fault(text)
    if text.startswith(LATENCY + ":"):
        try:
            seconds = float(text.split(":", 1)[1])
        except ValueError:
            seconds = -1.0
        if not 0.0 <= seconds <= 900.0:
            raise FaultSpecError(
                f"fault rule {rule!r}: latency takes seconds in [0, 900], e.g. 'latency:0.5'"
            )
        return Fault(LATENCY, seconds=seconds)
    if text.startswith(CANCEL + ":"):
        if service != "dynamodb" or operation not in ("TransactWriteItems", "TransactGetItems"):
            raise FaultSpecError(
                f"fault rule {rule!r}: 'cancel:' applies to dynamodb:TransactWriteItems"
                " or dynamodb:TransactGetItems only"
            )
        parts = text.split(":")
        reason = parts[1]
        if reason not in CANCELLATION_REASONS or len(parts) > 3:
            raise FaultSpecError(
                f"fault rule {rule!r}: cancellation reason must be one of"
                f" {', '.join(sorted(CANCELLATION_REASONS))}, optionally ':<item index>'"
            )
        item = None
        if len(parts) == 3:
            if not parts[2].isdigit():
                raise FaultSpecError(f"fault rule {rule!r}: item index must be a number")
            item = int(parts[2])
        return Fault(CANCEL, code=reason, item=item)
    if _CODE.fullmatch(text):
        return Fault(ERROR, code=text)
    raise FaultSpecError(
        f"fault rule {rule!r}: fault {text!r} is not an AWS error code (e.g."
        " ThrottlingException), 'timeout', 'connect-timeout', 'latency:<seconds>'"
        " or 'cancel:<Reason>'"
    )


class FaultInjector:
    """Applies ``rules`` to the HTTP attempts of boto3/botocore clients.

    ``seed`` makes the draws repeatable (for one thread; with several threads
    the order of draws follows the interleaving). ``sleep`` is called for
    latency and for the time a timeout costs (default ``time.sleep``).
    Counters: ``seen`` (attempts of a service and operation that some rule
    targets) and ``injected`` (faults applied), keyed by ``(service,
    operation)`` and ``(service, operation, fault label)``.
    """

    def __init__(
        self,
        rules: Sequence[FaultRule] | str,
        *,
        seed: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rules = tuple(parse_faults(rules) if isinstance(rules, str) else rules)
        self.sleep = sleep
        self.seen: Counter[tuple[str, str]] = Counter()
        self.injected: Counter[tuple[str, str, str]] = Counter()
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._fired: Counter[int] = Counter()
        self._enabled = False
        self._service_ids = {rule.service_id: rule.service for rule in self.rules}

    @property
    def total_injected(self) -> int:
        with self._lock:
            return sum(self.injected.values())

    # -- installation ----------------------------------------------------

    @contextlib.contextmanager
    def active(self, *targets: Any) -> Iterator[FaultInjector]:
        """Inject faults while the block runs.

        With ``targets`` (boto3/botocore clients or sessions), only their
        calls are faulted: a session's clients must be created inside the
        block, an existing client is faulted at once. Without targets, every
        client created inside the block is (clients that already exist, such
        as a handler's cached client, are not: reset such caches first).
        Clients created inside the block keep the hook afterwards, inert.
        """
        registered: list[Any] = []
        spec = ("before-send", self._hook, botocore.handlers.REGISTER_FIRST)
        with self._lock:
            self._enabled = True
        try:
            if targets:
                for target in targets:
                    events = _events_of(target)
                    events.register_first("before-send", self._hook)
                    registered.append(events)
            else:
                botocore.handlers.BUILTIN_HANDLERS.append(spec)
                if boto3.DEFAULT_SESSION is not None:
                    boto3.DEFAULT_SESSION.events.register_first("before-send", self._hook)
                    registered.append(boto3.DEFAULT_SESSION.events)
            yield self
        finally:
            with self._lock:
                self._enabled = False
            if not targets and spec in botocore.handlers.BUILTIN_HANDLERS:
                botocore.handlers.BUILTIN_HANDLERS.remove(spec)
            for events in registered:
                events.unregister("before-send", self._hook)

    # -- the botocore hook -----------------------------------------------

    def _pick(self, service_id: str, operation: str, region: str) -> FaultRule | None:
        with self._lock:
            if not self._enabled:
                return None
            chosen = None
            targeted = False
            for index, rule in enumerate(self.rules):
                if not rule.matches(service_id, operation, region):
                    continue
                targeted = True
                if rule.times is not None and self._fired[index] >= rule.times:
                    continue
                if rule.rate >= 1.0 or self._rng.random() < rule.rate:
                    self._fired[index] += 1
                    chosen = rule
                    break
            if targeted:
                self.seen[(self._service_ids.get(service_id, service_id), operation)] += 1
            if chosen is not None:
                self.injected[(chosen.service, operation, chosen.fault.label)] += 1
            return chosen

    def _hook(self, request: Any, event_name: str, **_: Any) -> AWSResponse | None:
        parts = event_name.split(".")
        if len(parts) < 3:
            return None
        service_id, operation = parts[1], parts[2]
        region = str(request.context.get("client_region") or "")
        rule = self._pick(service_id, operation, region)
        if rule is None:
            return None
        fault = rule.fault
        config = request.context.get("client_config")
        if fault.kind == LATENCY:
            self.sleep(fault.seconds)
            return None
        if fault.kind == TIMEOUT:
            self.sleep(float(getattr(config, "read_timeout", None) or 60))
            raise ReadTimeoutError(endpoint_url=request.url)
        if fault.kind == CONNECT_TIMEOUT:
            self.sleep(float(getattr(config, "connect_timeout", None) or 60))
            raise ConnectTimeoutError(endpoint_url=request.url)
        response = _error_response(request, rule, fault)
        request.url = FAULTED_URL
        return response


def _events_of(target: Any) -> Any:
    meta = getattr(target, "meta", None)
    if meta is not None and hasattr(meta, "events"):
        return meta.events  # a client
    if isinstance(target, boto3.session.Session):
        return target.events
    if isinstance(target, botocore.session.Session):
        return target.get_component("event_emitter")
    raise TypeError(f"cannot install faults on {type(target).__name__}: pass a client or session")


def _error_response(request: Any, rule: FaultRule, fault: Fault) -> AWSResponse:
    model = _service_model(rule.service)
    protocol = model.protocol
    message = f"injected fault ({rule})"
    if fault.kind == CANCEL:
        code = "TransactionCanceledException"
        count = _transaction_items(request)
        item = count - 1 if fault.item is None else min(fault.item, count - 1)
        reasons = [{"Code": "None"} for _ in range(count)]
        reasons[item] = {"Code": fault.code, "Message": message}
        listed = ", ".join(reason["Code"] for reason in reasons)
        extra: dict[str, Any] = {"CancellationReasons": reasons}
        message = (
            "Transaction cancelled, please refer cancellation reasons for specific"
            f" reasons [{listed}]"
        )
        status = 400
    else:
        code, extra, status = fault.code, {}, _ERROR_STATUS.get(fault.code, 400)
    headers = {"x-amzn-RequestId": "fault-injected", "x-amzn-ErrorType": code}
    if protocol in ("json", "rest-json"):
        prefix = model.metadata.get("targetPrefix") or model.service_name
        body = {"__type": f"{prefix}#{code}", "message": message, **extra}
        headers["Content-Type"] = "application/x-amz-json-1.0"
        raw = json.dumps(body).encode()
    else:
        headers["Content-Type"] = "text/xml"
        raw = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message>"
            "</Error><RequestId>fault-injected</RequestId></ErrorResponse>"
        ).encode()
    return AWSResponse(request.url, status, headers, ResponseBody(raw))


def _transaction_items(request: Any) -> int:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return 1
    return max(1, len(body.get("TransactItems") or []))
