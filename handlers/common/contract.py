"""The mechanism of a function's environment contract: each variable declared once.

A function family's ``contract.py`` (``handlers/<family>/contract.py``)
declares, once, every environment variable its functions read -- name, type,
default, bounds or choices, meaning and, where a stack setting feeds it, that
setting's key and unit -- and the keys of its table. From that one
declaration:

* the component renders the function's ``environment`` (``Contract.render``:
  typed values in, strings out; a ``pulumi.Output`` is rendered inside its
  ``apply``, without this module importing Pulumi);
* the handler parses ``os.environ`` (``Contract.parse`` for a typed settings
  object, ``EnvField.read`` for one value), raising the ONE
  :class:`ConfigurationError` that names the variable and what to change;
* ``config.py`` takes each stack setting's default and bounds
  (``EnvField.stack_default``, ``stack_bounds``), so ``Pulumi.yaml`` and the
  README's table follow;
* tests and the drill read a deployed function's environment back
  (``Contract.parse`` of the recorded ``environment``).

Pure: the standard library only (no boto3, Powertools or Pulumi), so it is
packaged with every family (``components.function.code_archive``) and
imported by the deploy program alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

#: Any partition's region name: ``us-east-1``, ``us-gov-west-1``,
#: ``cn-north-1``, ``us-isob-east-1``, ``eusc-de-east-1``. The one region
#: pattern of the house (stack config, handlers, request validation).
REGION_PATTERN = re.compile(r"^[a-z]{2,5}(-[a-z]+)+-\d{1,2}$")

Kind = Literal["str", "int", "decimal", "bool", "region", "json"]

#: ``default`` of a variable that must be set (no default).
REQUIRED: Any = type("Required", (), {"__repr__": lambda self: "REQUIRED"})()

#: Spellings of true/false a handler accepts (renders always write true/false).
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class ConfigurationError(Exception):
    """A function's environment is missing or malformed: raised when the
    handler parses it (cold start or first use), before it touches any AWS
    resource. The message names the variable and what to change. Lambda
    reports it as ``errorType`` ``ConfigurationError`` (500 on the API)."""


def is_region(value: object) -> bool:
    return isinstance(value, str) and bool(REGION_PATTERN.fullmatch(value))


@dataclass(frozen=True)
class EnvField:
    """One environment variable of a function.

    ``default``: the typed value when the variable is unset or blank;
    :data:`REQUIRED` when it must be set; ``None`` when unset means "absent".
    ``low``/``high`` bound numbers (``*_open``: exclusive); ``choices`` bound
    strings (``aliases`` maps extra accepted spellings to a choice);
    ``check`` returns a problem (or None) for a parsed value.
    ``stack_key``/``stack_scale``: the stack setting that feeds this variable
    and the unit conversion (stack value = field value * scale, e.g. a
    percent setting of a fraction has scale 100). ``deploy_default``: what a
    stack deploys when its config names nothing, only where that differs from
    ``default`` (an unset expected reply is an unconfigured probe; the stack
    deploys the sample bot's).
    """

    name: str
    kind: Kind
    doc: str
    default: Any = REQUIRED
    low: Any = None
    high: Any = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    check: Callable[[Any], str | None] | None = None
    stack_key: str | None = None
    stack_scale: int = 1
    #: what a stack deploys when its config names nothing, where that differs
    #: from the handler's reading of an unset variable (default: ``default``)
    deploy_default: Any = REQUIRED

    # -- identity --------------------------------------------------------------
    @property
    def attr(self) -> str:
        """The settings object's attribute (and ``render`` keyword): the name
        in lower case (``SCALE_OUT_THRESHOLD`` -> ``scale_out_threshold``)."""
        return self.name.lower()

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    # -- render: typed value -> environment string -------------------------------
    def render(self, value: Any) -> Any:
        """The environment string of ``value`` (a ``pulumi.Output`` stays an
        Output, rendered inside ``apply``). Validates plain values first, so a
        component cannot deploy what the handler would refuse."""
        if hasattr(value, "apply") and not isinstance(value, (str, bytes)):
            return value.apply(self._render_plain)
        return self._render_plain(value)

    def _render_plain(self, value: Any) -> str:
        if value is None:
            raise ValueError(f"{self.name}: no value to render (omit the variable instead)")
        if self.kind == "bool":
            text = "true" if value else "false"
        elif self.kind == "int":
            text = str(int(value))
        elif self.kind == "decimal":
            # The shortest exact spelling: 0.7, not 0.7000 or 0.69999.
            text = format(Decimal(str(value)).normalize(), "f")
        elif self.kind == "json":
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        else:
            text = str(value)
        try:
            self.parse_text(text)  # refuse to render what the handler would refuse
        except ConfigurationError as problem:
            # At deploy time a bad value is a bad argument (components raise
            # ValueError), not a broken function.
            raise ValueError(str(problem)) from None
        return text

    # -- parse: environment -> typed value ---------------------------------------
    def read(self, env: Mapping[str, str] | None = None) -> Any:
        """This variable's typed value from ``env`` (default: ``os.environ``)."""
        if env is None:
            import os

            env = os.environ
        raw = env.get(self.name)
        text = raw.strip() if raw is not None else ""
        if not text:
            if self.required:
                raise ConfigurationError(f"{self.name} is not set; {self._wanted()}")
            return self.default
        return self.parse_text(text)

    def parse_text(self, text: str) -> Any:
        value = _PARSERS[self.kind](self, text.strip())
        if self.check is not None and (problem := self.check(value)):
            raise ConfigurationError(f"{self.name}={text!r}: {problem}")
        return value

    def _fail(self, text: str, problem: str) -> ConfigurationError:
        return ConfigurationError(f"{self.name}={text!r} {problem}; {self._wanted()}")

    def _wanted(self) -> str:
        """What to set instead, for error messages."""
        if self.stack_key:
            where = f"set stack config {self.stack_key} (Pulumi.yaml) and run pulumi up"
        else:
            where = "redeploy the stack (the component renders it)"
        return f"expected {self.describe()}: {self.doc} -- {where}"

    def describe(self) -> str:
        """The accepted values in words (``an integer in [1, 10]``)."""
        if self.choices:
            return "one of " + ", ".join(sorted({*self.choices, *self.aliases}))
        if self.kind in ("int", "decimal"):
            what = "an integer" if self.kind == "int" else "a number"
            if self.low is None and self.high is None:
                return what
            if self.high is None:
                return f"{what} {'>' if self.low_open else '>='} {self.low}"
            left = "(" if self.low_open else "["
            right = ")" if self.high_open else "]"
            low = "-inf" if self.low is None else self.low
            return f"{what} in {left}{low}, {self.high}{right}"
        return {
            "bool": "true or false",
            "region": "an AWS region name",
            "json": "JSON",
            "str": "a string",
        }[self.kind]

    # -- the stack setting that feeds it -----------------------------------------
    def to_stack(self, value: Any) -> Any:
        """A field value in the stack setting's unit (fraction -> percent)."""
        if self.stack_scale == 1 or value is None:
            return value
        return int(Decimal(str(value)) * self.stack_scale)

    def from_stack(self, value: Any) -> Any:
        """A stack value in the field's unit (percent -> fraction), as the
        float the components take."""
        if self.stack_scale == 1 or value is None:
            return value
        return float(Decimal(value) / self.stack_scale)

    @property
    def deployed_default(self) -> Any:
        """The value a stack deploys when its config names none."""
        return self.default if self.deploy_default is REQUIRED else self.deploy_default

    @property
    def stack_default(self) -> Any:
        """``deployed_default`` in the stack setting's unit (Pulumi.yaml)."""
        value = self.deployed_default
        return None if value is REQUIRED else self.to_stack(value)

    def stack_bounds(self) -> tuple[Any, Any]:
        """Inclusive bounds in the stack's unit (an open bound of a percent
        setting moves by one: a fraction in (0, 1] is a percent in [1, 100])."""
        low, high = self.to_stack(self.low), self.to_stack(self.high)
        if self.kind in ("int", "decimal") and self.stack_key:
            if self.low_open and low is not None:
                low += 1
            if self.high_open and high is not None:
                high -= 1
        return low, high


def _parse_str(f: EnvField, text: str) -> str:
    if f.choices or f.aliases:
        value = f.aliases.get(text, text)
        if value not in f.choices:
            raise f._fail(text, "is not allowed")
        return value
    return text


def _parse_int(f: EnvField, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise f._fail(text, "is not an integer") from None
    _bounded(f, text, value)
    return value


def _parse_decimal(f: EnvField, text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise f._fail(text, "is not a number") from None
    if not value.is_finite():
        raise f._fail(text, "is not a finite number")
    _bounded(f, text, value)
    return value


def _bounded(f: EnvField, text: str, value: Any) -> None:
    too_low = f.low is not None and (value <= f.low if f.low_open else value < f.low)
    too_high = f.high is not None and (value >= f.high if f.high_open else value > f.high)
    if too_low or too_high:
        raise f._fail(text, "is out of range")


def _parse_bool(f: EnvField, text: str) -> bool:
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise f._fail(text, "is not true/false")


def _parse_region(f: EnvField, text: str) -> str:
    if not is_region(text):
        raise f._fail(text, "is not an AWS region name")
    return text


def _parse_json(f: EnvField, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise f._fail(text[:80], "is not valid JSON") from None


_PARSERS: dict[str, Callable[[EnvField, str], Any]] = {
    "str": _parse_str,
    "int": _parse_int,
    "decimal": _parse_decimal,
    "bool": _parse_bool,
    "region": _parse_region,
    "json": _parse_json,
}


class Parsed(Mapping[str, Any]):
    """A function's parsed environment: typed values by attribute name
    (``parsed.scale_out_threshold``) and by variable name
    (``parsed["SCALE_OUT_THRESHOLD"]``). Immutable."""

    def __init__(self, contract: Contract, values: Mapping[str, Any]) -> None:
        self._contract = contract
        self._values = dict(values)

    def __getattr__(self, attr: str) -> Any:
        try:
            return self.__dict__["_values"][attr.upper()]
        except KeyError:
            raise AttributeError(attr) from None

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Parsed({self._contract.function}, {self._values!r})"


@dataclass(frozen=True)
class Contract:
    """The environment of one function: its fields, in order."""

    function: str
    fields: tuple[EnvField, ...]

    def __post_init__(self) -> None:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.function}: a variable is declared twice in {names}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def field(self, name: str) -> EnvField:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"{self.function} has no environment variable {name}")

    def render(self, **values: Any) -> dict[str, Any]:
        """The function's ``environment`` from typed values keyed by attribute
        (``table_name=...``). A required field must be given; an optional one
        given ``None`` (or omitted) is left out, so the handler's default
        applies -- and that default is this contract's."""
        by_attr = {f.attr: f for f in self.fields}
        unknown = set(values) - set(by_attr)
        if unknown:
            raise TypeError(f"{self.function} has no environment field(s) {sorted(unknown)}")
        out: dict[str, Any] = {}
        for f in self.fields:
            value = values.get(f.attr)
            if value is None:
                if f.required:
                    raise TypeError(f"{self.function}: {f.attr} ({f.name}) is required")
                continue
            out[f.name] = f.render(value)
        return out

    def parse(self, env: Mapping[str, str] | None = None) -> Parsed:
        """Every field's typed value from ``env`` (default ``os.environ``);
        raises :class:`ConfigurationError` naming the first bad variable."""
        return Parsed(self, {f.name: f.read(env) for f in self.fields})


def all_fields(contracts: Iterable[Contract]) -> dict[str, EnvField]:
    """Every variable of ``contracts`` by name (a name declared in several
    contracts must be the same declaration)."""
    seen: dict[str, EnvField] = {}
    for contract in contracts:
        for f in contract.fields:
            if seen.setdefault(f.name, f) is not f:
                raise ValueError(f"{f.name} is declared twice, differently")
    return seen


def stack_fields(contracts: Iterable[Contract]) -> dict[str, EnvField]:
    """Stack setting key -> the field it feeds, over one family's contracts."""
    return {f.stack_key: f for f in all_fields(contracts).values() if f.stack_key}


# --------------------------------------------------------------------------- #
# Table schemas (plain values: packaged with the family, read by components)
# --------------------------------------------------------------------------- #
@dataclass(frozen=True)
class Attribute:
    name: str
    type: str  # "S" | "N" | "B"


@dataclass(frozen=True)
class GlobalIndex:
    name: str
    hash_key: str
    range_key: str | None = None
    projection_type: str = "ALL"


@dataclass(frozen=True)
class TableSchema:
    """Keys and indexes of one DynamoDB table (plain values, no Pulumi)."""

    logical_name: str
    hash_key: Attribute
    range_key: Attribute | None = None
    global_indexes: tuple[GlobalIndex, ...] = field(default_factory=tuple)
    extra_attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    @property
    def attributes(self) -> tuple[Attribute, ...]:
        """Every attribute that appears in a key of the table or an index."""
        seen: dict[str, Attribute] = {}
        for attr in (self.hash_key, self.range_key, *self.extra_attributes):
            if attr is not None:
                seen.setdefault(attr.name, attr)
        return tuple(seen.values())

    def index(self, name: str) -> GlobalIndex:
        for gsi in self.global_indexes:
            if gsi.name == name:
                return gsi
        raise KeyError(f"{self.logical_name} has no index {name}")

    def create_table_request(self, table_name: str) -> dict[str, Any]:
        """Arguments for boto3 ``create_table`` (used by tests and the drill)."""
        key_schema = [{"AttributeName": self.hash_key.name, "KeyType": "HASH"}]
        if self.range_key is not None:
            key_schema.append({"AttributeName": self.range_key.name, "KeyType": "RANGE"})
        request: dict[str, Any] = {
            "TableName": table_name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [
                {"AttributeName": a.name, "AttributeType": a.type} for a in self.attributes
            ],
            "KeySchema": key_schema,
        }
        if self.global_indexes:
            request["GlobalSecondaryIndexes"] = [
                {
                    "IndexName": gsi.name,
                    "KeySchema": [{"AttributeName": gsi.hash_key, "KeyType": "HASH"}]
                    + (
                        [{"AttributeName": gsi.range_key, "KeyType": "RANGE"}]
                        if gsi.range_key
                        else []
                    ),
                    "Projection": {"ProjectionType": gsi.projection_type},
                }
                for gsi in self.global_indexes
            ]
        return request
