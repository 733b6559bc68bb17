"""Lex V2 bots described once, as plain data.

A ``BotDefinition`` is a tree of frozen dataclasses (locales → intents →
slots, slot types) with no Pulumi in it. ``bot_locales_input`` turns it into
the ``bot_locales`` argument of ``aws_native.lex.Bot`` (the CloudFormation
``AWS::Lex::Bot`` shape in snake case), adding what Lex insists on but a
reader should not have to write: the ``FallbackIntent`` of every locale and
slot priorities in declaration order (the order slots are elicited in).

``order_flowers`` is the sample bot of the original blog post, rebuilt for
Lex V2. Its first slot prompt and one of its utterances are parameters so the
health check's probe (send the sample utterance, expect the first prompt)
always matches the deployed bot.

``definition_problems`` checks a definition before anything is deployed;
``definition_fingerprint`` changes whenever anything the bot is built from
changes, which is how the component knows a new bot version must be published.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

#: Every locale needs exactly one intent built on this signature.
FALLBACK_INTENT_NAME = "FallbackIntent"
FALLBACK_INTENT_SIGNATURE = "AMAZON.FallbackIntent"

#: Lex names: letters and digits, optionally separated by single ``_``/``-``.
_NAME = re.compile(r"^([0-9a-zA-Z][_-]?)+$")
_SLOT_REFERENCE = re.compile(r"\{([0-9a-zA-Z_]+)\}")
_TRAILING_PUNCTUATION = ".!?"


@dataclass(frozen=True)
class SlotValue:
    value: str
    synonyms: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlotType:
    """A custom slot type (built-in types such as ``AMAZON.Date`` need none)."""

    name: str
    values: tuple[SlotValue, ...]
    description: str = ""
    #: ``ORIGINAL_VALUE`` accepts close variants; ``TOP_RESOLUTION`` only listed values.
    resolution_strategy: str = "ORIGINAL_VALUE"


@dataclass(frozen=True)
class Slot:
    name: str
    slot_type: str
    prompt: str
    description: str = ""
    required: bool = True
    max_retries: int = 2
    sample_utterances: tuple[str, ...] = ()


@dataclass(frozen=True)
class Intent:
    name: str
    sample_utterances: tuple[str, ...]
    slots: tuple[Slot, ...] = ()
    description: str = ""
    confirmation_prompt: str | None = None
    declination_response: str | None = None
    closing_response: str | None = None
    max_confirmation_retries: int = 2


@dataclass(frozen=True)
class BotLocale:
    locale_id: str
    intents: tuple[Intent, ...]
    slot_types: tuple[SlotType, ...] = ()
    description: str = ""
    nlu_confidence_threshold: float = 0.4
    #: Polly voice Lex speaks with on voice channels (Amazon Connect calls).
    voice_id: str | None = "Joanna"
    fallback_description: str = "Default intent when no other intent matches"


@dataclass(frozen=True)
class BotDefinition:
    description: str
    locales: tuple[BotLocale, ...]
    idle_session_ttl_seconds: int = 300
    child_directed: bool = False

    @property
    def locale_ids(self) -> tuple[str, ...]:
        return tuple(locale.locale_id for locale in self.locales)

    @property
    def primary_locale_id(self) -> str:
        """The locale the health check probes and callers are greeted in."""
        return self.locales[0].locale_id


# --------------------------------------------------------------------------- #
# The OrderFlowers sample bot
# --------------------------------------------------------------------------- #
FLOWER_TYPE_PROMPT = "What type of flowers would you like to order?"
ORDER_FLOWERS_UTTERANCE = "I would like to order some flowers"


def utterance_text(utterance: str) -> str:
    """A probe's utterance as a Lex sample utterance (no trailing punctuation)."""
    return utterance.strip().rstrip(_TRAILING_PUNCTUATION).strip()


def order_flowers(
    *,
    locale_id: str = "en_US",
    flower_type_prompt: str = FLOWER_TYPE_PROMPT,
    probe_utterance: str = ORDER_FLOWERS_UTTERANCE,
) -> BotDefinition:
    """The OrderFlowers bot: intent ``OrderFlowers`` with slots ``FlowerType``
    (custom ``FlowerTypes``), ``PickupDate`` and ``PickupTime``, a confirmation
    and a closing response.

    ``flower_type_prompt`` is the bot's first reply to an order (the health
    check's expected response) and ``probe_utterance`` is guaranteed to be
    one of the intent's sample utterances (the health check's utterance).
    """
    utterances = [
        "I would like to pick up flowers",
        ORDER_FLOWERS_UTTERANCE,
        "I want to order flowers",
        "Can I order some flowers",
        "I would like to order {FlowerType}",
    ]
    probe = utterance_text(probe_utterance)
    if probe and probe not in utterances:
        utterances.insert(0, probe)
    return BotDefinition(
        description="Orders flowers for pick-up (Lex failover sample bot)",
        idle_session_ttl_seconds=300,
        locales=(
            BotLocale(
                locale_id=locale_id,
                description="OrderFlowers locale",
                slot_types=(
                    SlotType(
                        name="FlowerTypes",
                        description="Types of flowers to pick up",
                        values=(
                            SlotValue("roses", ("rose",)),
                            SlotValue("lilies", ("lily",)),
                            SlotValue("tulips", ("tulip",)),
                            SlotValue("daisies", ("daisy",)),
                            SlotValue("orchids", ("orchid",)),
                        ),
                    ),
                ),
                intents=(
                    Intent(
                        name="OrderFlowers",
                        description="Intent to order a bouquet of flowers for pick up",
                        sample_utterances=tuple(utterances),
                        slots=(
                            Slot(
                                name="FlowerType",
                                slot_type="FlowerTypes",
                                prompt=flower_type_prompt,
                                description="The type of flowers to pick up",
                                sample_utterances=("I would like to order {FlowerType}",),
                            ),
                            Slot(
                                name="PickupDate",
                                slot_type="AMAZON.Date",
                                prompt="What day do you want the {FlowerType} to be picked up?",
                                description="The date to pick up the flowers",
                            ),
                            Slot(
                                name="PickupTime",
                                slot_type="AMAZON.Time",
                                prompt="At what time do you want the {FlowerType} to be picked up?",
                                description="The time to pick up the flowers",
                            ),
                        ),
                        confirmation_prompt=(
                            "Okay, your {FlowerType} will be ready for pickup by {PickupTime} "
                            "on {PickupDate}. Does this sound okay?"
                        ),
                        declination_response="Okay, I will not place your order.",
                        closing_response=(
                            "Thanks, your order for {FlowerType} has been placed and will be "
                            "ready for pickup by {PickupTime} on {PickupDate}."
                        ),
                    ),
                ),
            ),
        ),
    )


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #
def definition_problems(definition: BotDefinition) -> list[str]:
    """Everything Lex would reject at build time that can be seen in the data."""
    problems: list[str] = []
    if not definition.locales:
        problems.append("a bot needs at least one locale")
    if not 60 <= definition.idle_session_ttl_seconds <= 86_400:
        problems.append("idle_session_ttl_seconds must be between 60 and 86400")
    seen_locales: set[str] = set()
    for locale in definition.locales:
        where = f"locale {locale.locale_id}"
        if locale.locale_id in seen_locales:
            problems.append(f"{where}: declared twice")
        seen_locales.add(locale.locale_id)
        if not 0 <= locale.nlu_confidence_threshold <= 1:
            problems.append(f"{where}: nlu_confidence_threshold must be between 0 and 1")
        if not locale.intents:
            problems.append(f"{where}: needs at least one intent")
        custom_types = {t.name for t in locale.slot_types}
        if len(custom_types) != len(locale.slot_types):
            problems.append(f"{where}: slot type names must be unique")
        for slot_type in locale.slot_types:
            if not _NAME.fullmatch(slot_type.name):
                problems.append(f"{where}: {slot_type.name!r} is not a valid slot type name")
            if not slot_type.values:
                problems.append(f"{where}: slot type {slot_type.name} has no values")
        intent_names = [i.name for i in locale.intents]
        if len(set(intent_names)) != len(intent_names):
            problems.append(f"{where}: intent names must be unique")
        if FALLBACK_INTENT_NAME in intent_names:
            problems.append(f"{where}: {FALLBACK_INTENT_NAME} is added automatically")
        for intent in locale.intents:
            problems.extend(
                _intent_problems(f"{where}, intent {intent.name}", intent, custom_types)
            )
    return problems


def _intent_problems(where: str, intent: Intent, custom_types: set[str]) -> list[str]:
    problems: list[str] = []
    if not _NAME.fullmatch(intent.name):
        problems.append(f"{where}: not a valid intent name")
    if not intent.sample_utterances:
        problems.append(f"{where}: needs at least one sample utterance")
    slot_names = [s.name for s in intent.slots]
    if len(set(slot_names)) != len(slot_names):
        problems.append(f"{where}: slot names must be unique")
    for slot in intent.slots:
        if not _NAME.fullmatch(slot.name):
            problems.append(f"{where}: {slot.name!r} is not a valid slot name")
        if not (slot.slot_type.startswith("AMAZON.") or slot.slot_type in custom_types):
            problems.append(f"{where}: slot {slot.name} uses unknown slot type {slot.slot_type}")
        if not slot.prompt.strip():
            problems.append(f"{where}: slot {slot.name} has an empty prompt")
    texts = [*intent.sample_utterances]
    texts += [u for s in intent.slots for u in s.sample_utterances]
    texts += [t for t in (intent.confirmation_prompt, intent.closing_response) if t is not None]
    texts += [s.prompt for s in intent.slots]
    for text in texts:
        for reference in _SLOT_REFERENCE.findall(text):
            if reference not in slot_names:
                problems.append(f"{where}: {text!r} refers to unknown slot {{{reference}}}")
    if (intent.declination_response is not None) and intent.confirmation_prompt is None:
        problems.append(f"{where}: a declination response needs a confirmation prompt")
    return problems


# --------------------------------------------------------------------------- #
# aws-native inputs
# --------------------------------------------------------------------------- #
def _messages(text: str) -> list[dict[str, Any]]:
    return [{"message": {"plain_text_message": {"value": text}}}]


def _intent_input(intent: Intent) -> dict[str, Any]:
    result: dict[str, Any] = {
        "name": intent.name,
        "sample_utterances": [{"utterance": u} for u in intent.sample_utterances],
    }
    if intent.description:
        result["description"] = intent.description
    if intent.slots:
        result["slots"] = [
            {
                "name": slot.name,
                "slot_type_name": slot.slot_type,
                **({"description": slot.description} if slot.description else {}),
                "value_elicitation_setting": {
                    "slot_constraint": "Required" if slot.required else "Optional",
                    "prompt_specification": {
                        "message_groups_list": _messages(slot.prompt),
                        "max_retries": slot.max_retries,
                        "allow_interrupt": True,
                    },
                    **(
                        {"sample_utterances": [{"utterance": u} for u in slot.sample_utterances]}
                        if slot.sample_utterances
                        else {}
                    ),
                },
            }
            for slot in intent.slots
        ]
        # Priority 1 is elicited first: the declaration order is the dialogue order.
        result["slot_priorities"] = [
            {"priority": index, "slot_name": slot.name}
            for index, slot in enumerate(intent.slots, start=1)
        ]
    if intent.confirmation_prompt is not None:
        confirmation: dict[str, Any] = {
            "prompt_specification": {
                "message_groups_list": _messages(intent.confirmation_prompt),
                "max_retries": intent.max_confirmation_retries,
                "allow_interrupt": True,
            }
        }
        if intent.declination_response is not None:
            confirmation["declination_response"] = {
                "message_groups_list": _messages(intent.declination_response),
                "allow_interrupt": False,
            }
        result["intent_confirmation_setting"] = confirmation
    if intent.closing_response is not None:
        result["intent_closing_setting"] = {
            "closing_response": {
                "message_groups_list": _messages(intent.closing_response),
                "allow_interrupt": False,
            },
            "is_active": True,
        }
    return result


def bot_locales_input(definition: BotDefinition) -> list[dict[str, Any]]:
    """``bot_locales`` for ``aws_native.lex.Bot`` (``BotLocaleArgsDict`` shape).

    Raises ``ValueError`` listing every problem of an invalid definition.
    """
    problems = definition_problems(definition)
    if problems:
        raise ValueError("invalid bot definition:\n  - " + "\n  - ".join(problems))
    locales: list[dict[str, Any]] = []
    for locale in definition.locales:
        entry: dict[str, Any] = {
            "locale_id": locale.locale_id,
            "nlu_confidence_threshold": locale.nlu_confidence_threshold,
            "intents": [
                *(_intent_input(intent) for intent in locale.intents),
                {
                    "name": FALLBACK_INTENT_NAME,
                    "description": locale.fallback_description,
                    "parent_intent_signature": FALLBACK_INTENT_SIGNATURE,
                },
            ],
        }
        if locale.description:
            entry["description"] = locale.description
        if locale.voice_id:
            entry["voice_settings"] = {"voice_id": locale.voice_id}
        if locale.slot_types:
            entry["slot_types"] = [
                {
                    "name": slot_type.name,
                    **({"description": slot_type.description} if slot_type.description else {}),
                    "slot_type_values": [
                        {
                            "sample_value": {"value": v.value},
                            **(
                                {"synonyms": [{"value": s} for s in v.synonyms]}
                                if v.synonyms
                                else {}
                            ),
                        }
                        for v in slot_type.values
                    ],
                    "value_selection_setting": {
                        "resolution_strategy": slot_type.resolution_strategy
                    },
                }
                for slot_type in locale.slot_types
            ]
        locales.append(entry)
    return locales


def definition_fingerprint(definition: BotDefinition) -> str:
    """A short, stable digest of everything the bot is built from."""
    canonical = json.dumps(asdict(definition), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def first_prompt(definition: BotDefinition, utterance: str) -> str | None:
    """The reply Lex gives first when ``utterance`` starts an intent of the
    primary locale: the prompt of the intent's first (priority 1) slot, or its
    confirmation prompt if it has no slots. ``None`` if no intent lists it."""
    wanted = utterance_text(utterance)
    for intent in definition.locales[0].intents:
        if wanted in intent.sample_utterances:
            if intent.slots:
                return intent.slots[0].prompt
            return intent.confirmation_prompt
    return None


__all__ = [
    "FALLBACK_INTENT_NAME",
    "FALLBACK_INTENT_SIGNATURE",
    "FLOWER_TYPE_PROMPT",
    "ORDER_FLOWERS_UTTERANCE",
    "BotDefinition",
    "BotLocale",
    "Intent",
    "Slot",
    "SlotType",
    "SlotValue",
    "bot_locales_input",
    "definition_fingerprint",
    "definition_problems",
    "first_prompt",
    "order_flowers",
    "utterance_text",
]
