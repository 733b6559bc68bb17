"""A simulated Amazon Lex V2 runtime, answering at the botocore level.

moto has no ``lexv2-runtime``. The health check's Lex client is a plain boto3
client, so the simulator hooks botocore's ``before-send`` event for the Lex
V2 runtime: the request is built, signed and validated by botocore exactly as
for AWS, and instead of going on the wire it is answered here, per region:

* ``ok``: ``RecognizeText`` replies with the expected response (for the
  configured utterance), ``PutSession`` returns a session;
* ``wrong_reply``: Lex answers, but with another message (a misconfigured or
  half-deployed bot);
* ``error``: an HTTP error with a Lex error code (default
  ``ResourceNotFoundException``: the alias was deleted, as in the original
  blog post's failover test);
* ``timeout``: the call times out -- raised at once as botocore's
  ``ReadTimeoutError`` (the simulation does not wait out the 2 s read
  timeout; the health check sees exactly what it would see after it).

A request for a bot or alias the region does not have gets
``ResourceNotFoundException``, like Lex, so a probe aimed at the wrong alias
fails. Calls and test sessions are counted, so a drill can check that every
session Lex answered for was deleted afterwards.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError

OK = "ok"
WRONG_REPLY = "wrong_reply"
ERROR = "error"
TIMEOUT = "timeout"
BEHAVIOURS = (OK, WRONG_REPLY, ERROR, TIMEOUT)

#: botocore's event for requests of the Lex V2 runtime (service id "Lex Runtime V2").
EVENT = "before-send.lex-runtime-v2"
_HOOK_ID = "drill-lex-simulator"

_ERROR_STATUS = {
    "ResourceNotFoundException": 404,
    "InternalServerException": 500,
    "ThrottlingException": 429,
    "AccessDeniedException": 403,
    "DependencyFailedException": 424,
    "BadGatewayException": 502,
}


class ResponseBody(BytesIO):
    """What botocore expects of ``AWSResponse.raw`` (also the fault injector's)."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        chunk = self.read()
        while chunk:
            yield chunk
            chunk = self.read()


@dataclass(frozen=True)
class BotAlias:
    bot_id: str
    bot_alias_id: str
    locale_id: str


@dataclass(frozen=True)
class Behaviour:
    kind: str = OK
    error_code: str = "ResourceNotFoundException"


def install_hook(hook: Any, session: Any = None) -> Any:
    """Register ``hook`` to answer Lex V2 runtime calls of clients made from
    ``session`` from now on (default: a fresh boto3 default session), and
    return the session."""
    if session is None:
        boto3.setup_default_session()
        session = boto3.DEFAULT_SESSION
    # First in line: nothing else may send the request anywhere.
    session.events.register_first(EVENT, hook, unique_id=_HOOK_ID)
    return session


class LexSimulator:
    """Per-region behaviour of a simulated Lex V2 runtime.

    ``bots`` is the health check's ``BOTS`` mapping (region -> ``{"botId",
    "botAliasId", "localeId"}``). Install it before the Lex clients are
    created (a client copies its session's event hooks when it is made)::

        sim = LexSimulator(bots, expected_response="What type of flowers...")
        sim.install()          # on boto3's default session
        sim.set("us-east-1", ERROR)
    """

    def __init__(
        self,
        bots: Mapping[str, Mapping[str, str]],
        *,
        expected_response: str,
        sample_utterance: str | None = None,
        wrong_reply: str = "Sorry, can you please repeat that?",
    ) -> None:
        self.bots = {
            region: BotAlias(b["botId"], b["botAliasId"], b["localeId"])
            for region, b in bots.items()
        }
        self.expected_response = expected_response
        self.sample_utterance = sample_utterance
        self.wrong_reply = wrong_reply
        self.calls: Counter[tuple[str, str]] = Counter()
        self.answered_sessions: set[tuple[str, str]] = set()
        self.deleted_sessions: set[tuple[str, str]] = set()
        self._behaviour: dict[str, Behaviour] = dict.fromkeys(self.bots, Behaviour())
        self._lock = threading.Lock()
        self._session: Any = None

    # -- control ---------------------------------------------------------------

    def set(self, region: str, kind: str, *, error_code: str = "ResourceNotFoundException") -> None:
        if kind not in BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {', '.join(BEHAVIOURS)}, got {kind!r}")
        if kind == ERROR and error_code not in _ERROR_STATUS:
            raise ValueError(f"unknown Lex error code {error_code!r}")
        with self._lock:
            self._behaviour[region] = Behaviour(kind, error_code)

    def behaviour(self, region: str) -> Behaviour:
        with self._lock:
            return self._behaviour.get(region, Behaviour())

    def count(self, region: str | None = None, operation: str | None = None) -> int:
        with self._lock:
            return sum(
                n
                for (r, op), n in self.calls.items()
                if (region is None or r == region) and (operation is None or op == operation)
            )

    @property
    def undeleted_sessions(self) -> set[tuple[str, str]]:
        with self._lock:
            return self.answered_sessions - self.deleted_sessions

    def install(self, session: Any = None) -> LexSimulator:
        """Answer Lex V2 runtime calls of clients made from ``session`` from
        now on (default: a fresh boto3 default session)."""
        self._session = install_hook(self, session)
        return self

    def uninstall(self) -> None:
        if self._session is not None:
            self._session.events.unregister(EVENT, unique_id=_HOOK_ID)
            self._session = None

    # -- the botocore hook -----------------------------------------------------

    def __call__(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        region = request.context.get("client_region", "")
        path = urlparse(request.url).path
        parts = [unquote(p) for p in path.split("/")]
        # /bots/{botId}/botAliases/{aliasId}/botLocales/{localeId}/sessions/{sessionId}[/text]
        fields = dict(zip(parts[1::2], parts[2::2], strict=False))
        bot_id, alias_id = fields.get("bots"), fields.get("botAliases")
        locale_id, session_id = fields.get("botLocales"), fields.get("sessions", "")
        with self._lock:
            self.calls[(region, operation)] += 1
        behaviour = self.behaviour(region)
        if behaviour.kind == TIMEOUT:
            raise ReadTimeoutError(endpoint_url=request.url)
        if behaviour.kind == ERROR:
            return error_response(request, behaviour.error_code)
        known = self.bots.get(region)
        if known is None or (bot_id, alias_id, locale_id) != (
            known.bot_id,
            known.bot_alias_id,
            known.locale_id,
        ):
            return error_response(request, "ResourceNotFoundException")

        if operation == "DeleteSession":
            with self._lock:
                self.deleted_sessions.add((region, session_id))
            return json_response(
                request,
                {
                    "botId": bot_id,
                    "botAliasId": alias_id,
                    "localeId": locale_id,
                    "sessionId": session_id,
                },
            )
        with self._lock:
            self.answered_sessions.add((region, session_id))
        if operation == "RecognizeText":
            text = json.loads(request.body or b"{}").get("text")
            understood = self.sample_utterance is None or text == self.sample_utterance
            reply = (
                self.expected_response if behaviour.kind == OK and understood else self.wrong_reply
            )
            return json_response(
                request,
                {
                    "messages": [{"content": reply, "contentType": "PlainText"}],
                    "sessionId": session_id,
                    "sessionState": {
                        "dialogAction": {"type": "ElicitSlot", "slotToElicit": "FlowerType"}
                    },
                },
            )
        if operation == "PutSession":
            headers = {"Content-Type": "application/json"}
            if behaviour.kind == OK:
                headers["x-amz-lex-session-id"] = session_id
            return AWSResponse(request.url, 200, headers, ResponseBody(b""))
        return error_response(request, "InternalServerException")


def json_response(request: Any, body: dict[str, Any]) -> AWSResponse:
    """A 200 answer of the Lex V2 runtime with ``body`` as JSON."""
    raw = json.dumps(body).encode()
    return AWSResponse(request.url, 200, {"Content-Type": "application/json"}, ResponseBody(raw))


def error_response(request: Any, code: str) -> AWSResponse:
    """An error answer of the Lex V2 runtime: ``code`` with its HTTP status."""
    raw = json.dumps({"message": f"simulated {code}"}).encode()
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return AWSResponse(request.url, _ERROR_STATUS[code], headers, ResponseBody(raw))
