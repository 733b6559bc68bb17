"""The whole program under the mock engine: providers, regions, packaging."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.pulumi_harness import ProgramRun

ROOT = Path(__file__).resolve().parents[2]


def test_the_program_declares_cloud_resources(dev_run: ProgramRun):
    # Guards the tests below against passing vacuously on an empty program.
    assert len(dev_run.cloud_resources()) >= 20


def test_every_cloud_resource_has_an_explicit_provider(dev_run: ProgramRun, eu_run: ProgramRun):
    for run in (dev_run, eu_run):
        for resource in run.cloud_resources():
            assert resource.provider, f"{resource.type} {resource.name} has no provider"
            assert "::default" not in resource.provider, resource.name
            assert resource.region is not None, f"{resource.name}: unknown provider"


def test_provider_packages_match_resource_packages(dev_run: ProgramRun):
    for resource in dev_run.cloud_resources():
        # "urn:pulumi:<stack>::<project>::<type chain>::<name>::<id>"
        provider_type = resource.provider.split("::")[-3].split("$")[-1]
        assert provider_type == f"pulumi:providers:{resource.package}", resource.name


def test_exactly_two_providers_per_package_one_per_region(dev_run: ProgramRun):
    providers = [r for r in dev_run.resources if r.type.startswith("pulumi:providers:")]
    by_package: dict[str, set[str]] = {}
    for p in providers:
        by_package.setdefault(p.type, set()).add(p.inputs["region"])
    assert by_package == {
        "pulumi:providers:aws": {"us-east-1", "us-west-2"},
        "pulumi:providers:aws-native": {"us-east-1", "us-west-2"},
    }


def test_providers_tag_every_resource_with_project_and_stack(dev_run: ProgramRun):
    for p in (r for r in dev_run.resources if r.type.startswith("pulumi:providers:")):
        # Provider configuration reaches the engine JSON-encoded.
        tags = p.inputs["defaultTags"]
        tags = json.loads(tags) if isinstance(tags, str) else tags
        assert tags["tags"] == {"project": "resilient-routing", "stack": "dev"}


def test_swapping_the_region_pair_moves_every_regional_resource(dev_run, eu_run):
    moved = {"us-east-1": "eu-west-2", "us-west-2": "eu-central-1"}
    dev = {(r.type, r.name): r.region for r in dev_run.cloud_resources()}
    eu = {(r.type, r.name): r.region for r in eu_run.cloud_resources()}
    assert dev.keys() == eu.keys()
    for key, region in dev.items():
        if key[0].startswith("aws:iam/"):
            continue  # IAM is global; its provider's region is irrelevant
        assert eu[key] == moved[region], key
    assert {region for region in dev.values()} == {"us-east-1", "us-west-2"}


def test_no_resource_mentions_the_other_pairs_regions(eu_run: ProgramRun):
    text = repr([r.inputs for r in eu_run.cloud_resources()])
    assert "us-east-1" not in text and "us-west-2" not in text


def test_every_function_handler_resolves_to_a_function_in_its_folder(dev_run: ProgramRun):
    functions = dev_run.of_type("aws:lambda/function:Function")
    assert functions
    for fn in functions:
        module_path, _, func_name = fn.inputs["handler"].rpartition(".")
        source = ROOT / (module_path.replace(".", "/") + ".py")
        assert source.is_file(), f"{fn.name}: {source} missing"
        tree = ast.parse(source.read_text())
        functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
        assigned = {
            t.id
            for n in tree.body
            if isinstance(n, ast.Assign)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        top_level = functions | assigned
        assert func_name in top_level, f"{fn.name}: {func_name} not defined in {source}"


@pytest.mark.parametrize("key", ["primaryRegion", "secondaryRegion"])
def test_regions_are_exported(dev_run: ProgramRun, key: str):
    assert dev_run.outputs[key] in ("us-east-1", "us-west-2")
