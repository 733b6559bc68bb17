"""Cognito pre sign-up trigger: self sign-up only from allowed e-mail domains.

Used when the stack's ``signUpPolicy`` is ``allowedDomains``. Env
``SIGN_UP_ALLOWED_DOMAINS`` (JSON list of domain suffixes; ``example.com``
admits ``a@example.com`` and ``a@eu.example.com``). A refused sign-up raises
``SignUpRefused``; Cognito then answers the client's ``SignUp`` with
``UserLambdaValidationException`` and creates nothing. Users an administrator
creates (``PreSignUp_AdminCreateUser``) are not gated. Never logs the address:
only the domain.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from handlers.cell_router import contract, model
from handlers.cell_router.endpoint_policy import normalise_domain, within_domains
from handlers.cell_router.observability import count, instrument_handler, logger

ADMIN_CREATE_USER = "PreSignUp_AdminCreateUser"


class SignUpRefused(Exception):
    """The e-mail domain may not self sign-up (Cognito refuses the sign-up)."""


def allowed_domains() -> tuple[str, ...]:
    return tuple(normalise_domain(v) for v in contract.SIGN_UP_ALLOWED_DOMAINS.read())


def domain_allowed(email: str, domains: tuple[str, ...]) -> bool:
    """Pure: is the address's domain one of ``domains`` or below one?"""
    local, at, domain = email.strip().rpartition("@")
    domain = domain.lower().rstrip(".")
    if not at or not local or not domain:
        return False
    return within_domains(domain, domains)


@instrument_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    domains = allowed_domains()
    if event.get("triggerSource") == ADMIN_CREATE_USER:
        return event
    email = str(((event.get("request") or {}).get("userAttributes") or {}).get("email", ""))
    if not domain_allowed(email, domains):
        count(model.METRIC_SELF_SIGN_UP_REFUSED)
        logger.info("sign-up refused", extra={"emailDomain": email.rpartition("@")[2].lower()})
        raise SignUpRefused("sign-up is open to addresses of the allowed domains only")
    count(model.METRIC_SELF_SIGN_UP_ALLOWED)
    return event
