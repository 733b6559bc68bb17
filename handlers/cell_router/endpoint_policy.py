"""Which cell endpoints the router may store and fetch (pure: no I/O).

A cell endpoint is a URL the router hands to clients and the validator
fetches from inside the VPC-less Lambda network, so a bad one is both a
phishing link and a server-side request forgery. The rule, applied when a
URL is written (the registrar) and again when it is fetched (the probe):

* ``https`` only, with a DNS host name -- never an IP literal in any
  spelling (``127.0.0.1``, ``[fd00:ec2::254]``, ``0x7f000001``, ``2130706433``,
  ``017700000001``), never ``user:pass@``, never a fragment;
* the host ends with one of ``CELL_ENDPOINT_DOMAINS`` (a JSON list of
  suffixes such as ``["cells.example.com"]``; empty allows any public DNS
  name);
* at fetch time, every address the name resolves to must be public
  (:func:`is_public_address`): not loopback, private (RFC 1918, ULA),
  link-local (the instance metadata service 169.254.169.254 and
  ``fd00:ec2::254`` included), shared (100.64/10), multicast, reserved or
  unspecified.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from urllib.parse import urlsplit

from handlers.cell_router.errors import InvalidRequest

MAX_URL_LENGTH = 2048
#: One DNS label: letters, digits and inner hyphens, at most 63 characters.
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
#: A label made only of digits or hex notation: the forms inet_aton would read
#: as an IPv4 address (``0x7f.1``, ``127.1``, ``2130706433``).
_NUMERIC_LABEL = re.compile(r"(0x[0-9a-f]*|[0-9]+)")


def normalise_domain(suffix: str) -> str:
    """A configured suffix, lowercased, without dots at either end or a
    leading ``*.``; it must be a DNS name of at least two labels
    (``example.com``), which then admits that name and every name below it."""
    value = suffix.strip().lower()
    # "*.example.com" and ".example.com" mean what "example.com" means here.
    value = value.removeprefix("*.").strip(".")
    labels = value.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(f"{suffix!r} is not a domain suffix such as 'cells.example.com'")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        raise ValueError(f"{suffix!r} ends in a numeric label: that is an address, not a domain")
    return value


def check_endpoint_url(url: object, field: str, allowed_domains: Sequence[str]) -> str:
    """``url`` if it is an endpoint the router may store, else ``InvalidRequest``
    naming ``field`` and what to change. Returned unchanged (clients compare it)."""
    if not isinstance(url, str) or not url:
        raise InvalidRequest(f"{field} must be a non-empty https URL")
    if len(url) > MAX_URL_LENGTH:
        raise InvalidRequest(f"{field} is longer than {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) >= 127 for ch in url):
        raise InvalidRequest(f"{field} must be ASCII without spaces (punycode any IDN host)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidRequest(f"{field} is not a valid URL") from None
    if parts.scheme.lower() != "https":
        raise InvalidRequest(f"{field} must use https")
    if "@" in parts.netloc or parts.username is not None or parts.password is not None:
        raise InvalidRequest(f"{field} must not carry credentials (user:password@)")
    if parts.fragment or "#" in url:
        raise InvalidRequest(f"{field} must not have a fragment")
    if port is not None and port < 1:
        raise InvalidRequest(f"{field} has an invalid port")
    host = (parts.hostname or "").rstrip(".")
    check_host(host, field, allowed_domains)
    return url


def check_host(host: str, field: str, allowed_domains: Sequence[str]) -> str:
    """``host`` (lowercase) if it is a DNS name inside the allowed domains."""
    host = host.lower()
    if not host:
        raise InvalidRequest(f"{field} has no host")
    if is_ip_literal(host):
        raise InvalidRequest(f"{field} names an IP address; use the cell's DNS name")
    labels = host.split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidRequest(f"{field} host {host!r} is not a DNS name")
    if allowed_domains and not within_domains(host, allowed_domains):
        raise InvalidRequest(
            f"{field} host {host!r} is outside the allowed cell domains "
            f"({', '.join(allowed_domains)}); change the endpoint or cellEndpointDomains"
        )
    return host


def within_domains(host: str, domains: Sequence[str]) -> bool:
    """True when ``host`` is one of ``domains`` (normalised suffixes) or
    below one: ``example.com`` admits ``example.com`` and ``eu.example.com``."""
    return any(host == domain or host.endswith("." + domain) for domain in domains)


def is_ip_literal(host: str) -> bool:
    """True for anything a resolver or socket would read as an address
    rather than look up: dotted, IPv6 and inet_aton's numeric spellings."""
    text = host.strip("[]").lower()
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
        return True
    except ValueError:
        pass
    if ":" in text:
        return True
    labels = text.rstrip(".").split(".")
    # inet_aton accepts 1-4 numeric parts in decimal, octal or hex; a last
    # label that is numeric makes the whole name an address for most stacks.
    return bool(labels) and _NUMERIC_LABEL.fullmatch(labels[-1]) is not None


def is_public_address(address: str) -> bool:
    """True when ``address`` (an IP string, e.g. from ``getaddrinfo``) is a
    globally routable unicast address; IPv4-mapped IPv6 is judged as IPv4."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in net for net in _TRANSLATED_IPV6):
            # NAT64 and 6to4 embed an IPv4 address a gateway would reach.
            return False
    return ip.is_global and not ip.is_multicast


_TRANSLATED_IPV6 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("2002::/16"))
