"""MultiRegionLexBot on the mock engine: a bot, version and alias per region on
that region's providers, the probe-compatible definition, Global Resiliency."""

from __future__ import annotations

import json

import pytest

from components.bot_definitions import (
    FALLBACK_INTENT_NAME,
    FALLBACK_INTENT_SIGNATURE,
    BotDefinition,
    BotLocale,
    Intent,
    Slot,
    bot_locales_input,
    definition_fingerprint,
    definition_problems,
    first_prompt,
    order_flowers,
    utterance_text,
)
from components.lex_bot import (
    MultiRegionLexBot,
    MultiRegionLexBotArgs,
    RegionalLexBotArgs,
    replica_arn,
)
from components.providers import region_providers
from tests.components.lex_support import policy_statements, run_recording_options, trust_statements
from tests.pulumi_harness import DEV_CONFIG, EU_CONFIG, ProgramRun, run_program

BOT = "aws-native:lex:Bot"
VERSION = "aws-native:lex:BotVersion"
ALIAS = "aws-native:lex:BotAlias"
ROLE = "aws:iam/role:Role"

PAIRS = [
    pytest.param("dev_run", DEV_CONFIG, id="us-east-1/us-west-2"),
    pytest.param("eu_run", EU_CONFIG, id="eu-west-2/eu-central-1"),
]


def _in(run: ProgramRun, typ: str, region: str):
    return [r for r in run.of_type(typ) if r.region == region]


def _bot_intent(bot, name: str) -> dict:
    (locale,) = bot.inputs["botLocales"]
    return next(i for i in locale["intents"] if i["name"] == name)


@pytest.mark.parametrize(("fixture", "config"), PAIRS)
def test_bot_version_and_alias_in_each_region_on_that_regions_provider(request, fixture, config):
    run: ProgramRun = request.getfixturevalue(fixture)
    for role, region in (
        ("primary", config["primaryRegion"]),
        ("secondary", config["secondaryRegion"]),
    ):
        (bot,) = _in(run, BOT, region)
        (version,) = _in(run, VERSION, region)
        (alias,) = _in(run, ALIAS, region)
        for resource in (bot, version, alias):
            *_, package, provider_name, provider_id = resource.provider.split("::")
            assert package.endswith("$pulumi:providers:aws-native"), resource.name
            assert (provider_name, provider_id) == (f"{role}-aws-native", f"{role}-aws-native-id")
        assert version.inputs["botId"] == bot.id
        assert version.inputs["botVersionLocaleSpecification"] == [
            {"localeId": "en_US", "botVersionLocaleDetails": {"sourceBotVersion": "DRAFT"}}
        ]
        assert alias.inputs["botId"] == bot.id
        assert alias.inputs["botVersion"] == version.outputs["botVersion"]
        assert alias.inputs["botAliasLocaleSettings"] == [
            {"localeId": "en_US", "botAliasLocaleSetting": {"enabled": True}}
        ]
        assert bot.inputs["autoBuildBotLocales"] is True
        assert bot.inputs["dataPrivacy"] == {"childDirected": False}
        assert "replication" not in bot.inputs
    assert len(run.of_type(BOT)) == 2


@pytest.mark.parametrize(("fixture", "config"), PAIRS)
def test_alias_is_ver_one_and_never_the_test_alias(request, fixture, config):
    run: ProgramRun = request.getfixturevalue(fixture)
    aliases = run.of_type(ALIAS)
    assert [a.inputs["botAliasName"] for a in aliases] == ["ver_one", "ver_one"]
    assert "TSTALIASID" not in json.dumps(run.outputs)
    arns = run.outputs["lexBotAliasArns"]
    assert set(arns) == {config["primaryRegion"], config["secondaryRegion"]}
    for region, arn in arns.items():
        (alias,) = _in(run, ALIAS, region)
        assert arn == alias.outputs["arn"]
        assert arn.startswith(f"arn:aws:lex:{region}:")
        assert run.outputs["lexBotAliasIds"][region] == alias.outputs["botAliasId"]


def test_alias_name_from_config(run_stack):
    run = run_stack(lexBotAliasName="live")
    assert {a.inputs["botAliasName"] for a in run.of_type(ALIAS)} == {"live"}


def test_test_alias_is_refused_by_the_component():
    base = order_flowers()
    with pytest.raises(ValueError, match="TSTALIASID"):
        RegionalLexBotArgs(definition=base, bot_name="b", alias_name="TSTALIASID", region="r")


@pytest.mark.parametrize(("fixture", "config"), PAIRS)
def test_each_region_has_its_own_bot_role_allowed_only_polly(request, fixture, config):
    run: ProgramRun = request.getfixturevalue(fixture)
    role_arns = set()
    for region in (config["primaryRegion"], config["secondaryRegion"]):
        (bot,) = _in(run, BOT, region)
        (role,) = [r for r in run.of_type(ROLE) if r.outputs["arn"] == bot.inputs["roleArn"]]
        assert role.region == region
        role_arns.add(role.outputs["arn"])
        assert trust_statements(role) == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lexv2.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ]
        assert policy_statements(run, role) == [
            {
                "Sid": "SpeakWithPolly",
                "Effect": "Allow",
                "Action": ["polly:SynthesizeSpeech"],
                "Resource": "*",
            }
        ]
    assert len(role_arns) == 2


def test_bot_answers_the_probe_with_the_configured_reply(dev_run):
    (bot,) = _in(dev_run, BOT, "us-east-1")
    intent = _bot_intent(bot, "OrderFlowers")
    utterances = [u["utterance"] for u in intent["sampleUtterances"]]
    assert "I would like to order some flowers" in utterances
    first = min(intent["slotPriorities"], key=lambda p: p["priority"])
    assert first["slotName"] == "FlowerType"
    flower = next(s for s in intent["slots"] if s["name"] == "FlowerType")
    prompt = flower["valueElicitationSetting"]["promptSpecification"]["messageGroupsList"]
    assert prompt == [
        {
            "message": {
                "plainTextMessage": {"value": "What type of flowers would you like to order?"}
            }
        }
    ]
    # The probe sends exactly these (from the defaults in config.py).
    fn = next(f for f in dev_run.of_type("aws:lambda/function:Function") if "lexDRTest" in f.name)
    env = fn.inputs["environment"]["variables"]
    assert utterance_text(env["SAMPLE_UTTERANCE"]) in utterances
    assert env["EXPECTED_RESPONSE"] == "What type of flowers would you like to order?"


def test_changed_probe_settings_change_the_bot(run_stack):
    run = run_stack(
        healthCheckSampleUtterance="Flowers please!",
        healthCheckExpectedResponse="Which flowers would you like?",
    )
    for bot in run.of_type(BOT):
        intent = _bot_intent(bot, "OrderFlowers")
        assert {"utterance": "Flowers please"} in intent["sampleUtterances"]
        flower = next(s for s in intent["slots"] if s["name"] == "FlowerType")
        spec = flower["valueElicitationSetting"]["promptSpecification"]
        assert spec["messageGroupsList"][0]["message"]["plainTextMessage"]["value"] == (
            "Which flowers would you like?"
        )


def test_order_flowers_shape_and_fallback(dev_run):
    (bot,) = _in(dev_run, BOT, "us-west-2")
    (locale,) = bot.inputs["botLocales"]
    assert locale["localeId"] == "en_US"
    assert [s["name"] for s in locale["slotTypes"]] == ["FlowerTypes"]
    values = [v["sampleValue"]["value"] for v in locale["slotTypes"][0]["slotTypeValues"]]
    assert {"roses", "lilies", "tulips"} <= set(values)
    intent = _bot_intent(bot, "OrderFlowers")
    assert [(s["name"], s["slotTypeName"]) for s in intent["slots"]] == [
        ("FlowerType", "FlowerTypes"),
        ("PickupDate", "AMAZON.Date"),
        ("PickupTime", "AMAZON.Time"),
    ]
    assert "promptSpecification" in intent["intentConfirmationSetting"]
    assert "declinationResponse" in intent["intentConfirmationSetting"]
    assert intent["intentClosingSetting"]["isActive"] is True
    fallback = _bot_intent(bot, FALLBACK_INTENT_NAME)
    assert fallback["parentIntentSignature"] == FALLBACK_INTENT_SIGNATURE


def test_bots_env_is_what_the_health_check_reads(dev_run):
    fn = next(f for f in dev_run.of_type("aws:lambda/function:Function") if "lexDRTest" in f.name)
    bots = json.loads(fn.inputs["environment"]["variables"]["BOTS"])
    expected = {}
    for region in ("us-east-1", "us-west-2"):
        (bot,) = _in(dev_run, BOT, region)
        (alias,) = _in(dev_run, ALIAS, region)
        expected[region] = {
            "botId": bot.id,
            "botAliasId": alias.outputs["botAliasId"],
            "localeId": "en_US",
        }
    assert bots == expected


def test_a_definition_change_publishes_a_new_version():
    run, options = run_recording_options()
    for version in run.of_type(VERSION):
        assert "description" in (options[(VERSION, version.name)].replace_on_changes or [])
        assert definition_fingerprint(order_flowers()) in version.inputs["description"]
    changed = order_flowers(flower_type_prompt="Which flowers?")
    assert definition_fingerprint(changed) != definition_fingerprint(order_flowers())


# --------------------------------------------------------------------------- #
# Global Resiliency
# --------------------------------------------------------------------------- #
def test_global_resiliency_deploys_one_replicated_bot(run_stack):
    run = run_stack(lexGlobalResiliency=True)
    (bot,) = run.of_type(BOT)
    assert bot.region == "us-east-1"
    assert bot.inputs["replication"] == {"replicaRegions": ["us-west-2"]}
    assert [r.region for r in run.of_type(VERSION)] == ["us-east-1"]
    (alias,) = run.of_type(ALIAS)
    assert alias.region == "us-east-1"
    assert not [
        r
        for r in run.cloud_resources()
        if r.name.startswith("lex-bot-") and r.region == "us-west-2"
    ]
    assert len([r for r in run.of_type(ROLE) if "lex-bot" in r.name]) == 1
    primary_arn = alias.outputs["arn"]
    assert run.outputs["lexBotAliasArns"] == {
        "us-east-1": primary_arn,
        "us-west-2": primary_arn.replace(":us-east-1:", ":us-west-2:"),
    }
    assert run.outputs["lexBotIds"] == {"us-east-1": bot.id, "us-west-2": bot.id}
    assert run.outputs["lexBotAliasIds"]["us-west-2"] == alias.outputs["botAliasId"]
    # The probe is told to call the replica with the same ids.
    fn = next(f for f in run.of_type("aws:lambda/function:Function") if "lexDRTest" in f.name)
    bots = json.loads(fn.inputs["environment"]["variables"]["BOTS"])
    assert bots["us-west-2"] == bots["us-east-1"]


def test_global_resiliency_refuses_a_pair_lex_does_not_replicate():
    def program() -> None:
        MultiRegionLexBot(
            "bot",
            MultiRegionLexBotArgs(
                definition=order_flowers(),
                bot_name="OrderFlowers",
                alias_name="ver_one",
                primary=region_providers("p", "us-east-1", {}),
                secondary=region_providers("s", "eu-west-1", {}),
                global_resiliency=True,
            ),
        )

    with pytest.raises(ValueError, match="Global Resiliency only replicates"):
        run_program({}, program=program)


def test_replica_arn_swaps_only_the_region():
    arn = "arn:aws:lex:us-east-1:123456789012:bot-alias/ABCDEFGHIJ/KLMNOPQRST"
    assert replica_arn(arn, "us-west-2") == (
        "arn:aws:lex:us-west-2:123456789012:bot-alias/ABCDEFGHIJ/KLMNOPQRST"
    )
    with pytest.raises(ValueError):
        replica_arn("arn:aws:sns:us-east-1:1:t", "us-west-2")


# --------------------------------------------------------------------------- #
# Any bot definition
# --------------------------------------------------------------------------- #
BOOK_HOTEL = BotDefinition(
    description="Books hotels",
    locales=(
        BotLocale(
            locale_id="en_GB",
            voice_id=None,
            intents=(
                Intent(
                    name="BookHotel",
                    sample_utterances=("Book a hotel", "I need a room in {City}"),
                    slots=(Slot("City", "AMAZON.City", "Which city?"),),
                    confirmation_prompt="Book a room in {City}?",
                ),
            ),
        ),
        BotLocale(
            locale_id="de_DE",
            intents=(Intent(name="Hallo", sample_utterances=("Hallo",)),),
        ),
    ),
)


def test_any_definition_deploys_with_all_its_locales():
    def program() -> None:
        MultiRegionLexBot(
            "hotel",
            MultiRegionLexBotArgs(
                definition=BOOK_HOTEL,
                bot_name="BookHotel",
                alias_name="prod",
                primary=region_providers("p", "eu-west-2", {}),
                secondary=region_providers("s", "eu-central-1", {}),
            ),
        )

    run = run_program({}, program=program)
    assert {b.region for b in run.of_type(BOT)} == {"eu-west-2", "eu-central-1"}
    for bot in run.of_type(BOT):
        assert [loc["localeId"] for loc in bot.inputs["botLocales"]] == ["en_GB", "de_DE"]
        assert "voiceSettings" not in bot.inputs["botLocales"][0]
        assert bot.name.endswith("-BookHotel")
    for version in run.of_type(VERSION):
        locales = [s["localeId"] for s in version.inputs["botVersionLocaleSpecification"]]
        assert locales == ["en_GB", "de_DE"]
    for alias in run.of_type(ALIAS):
        assert alias.inputs["botAliasName"] == "prod"
        assert len(alias.inputs["botAliasLocaleSettings"]) == 2
    assert first_prompt(BOOK_HOTEL, "Book a hotel.") == "Which city?"


def test_definition_problems_are_reported_before_deploying():
    broken = BotDefinition(
        description="broken",
        locales=(
            BotLocale(
                locale_id="en_US",
                intents=(
                    Intent(
                        name="Order",
                        sample_utterances=("order {Colour}",),
                        slots=(Slot("Size", "Sizes", "Which size?"),),
                    ),
                    Intent(name=FALLBACK_INTENT_NAME, sample_utterances=("x",)),
                ),
            ),
        ),
    )
    problems = definition_problems(broken)
    assert any("unknown slot type Sizes" in p for p in problems)
    assert any("unknown slot {Colour}" in p for p in problems)
    assert any("added automatically" in p for p in problems)
    with pytest.raises(ValueError, match="invalid bot definition"):
        bot_locales_input(broken)
    assert definition_problems(order_flowers()) == []
