"""Helpers for the Lex failover component tests.

``run_recording_options`` runs the program under the mock engine with a stack
transformation that keeps every resource's ``ResourceOptions``: the mock
engine records inputs only, so options such as ``ignore_changes`` or
``replace_on_changes`` are checked here, on what the program really passed.
"""

from __future__ import annotations

import json
import runpy
import warnings
from collections.abc import Mapping
from typing import Any

import pulumi

from tests.pulumi_harness import DEV_CONFIG, MAIN, ProgramRun, Recorded, run_program


def run_recording_options(
    config: Mapping[str, Any] | None = None, stack: str = "dev", **overrides: Any
) -> tuple[ProgramRun, dict[tuple[str, str], pulumi.ResourceOptions]]:
    seen: dict[tuple[str, str], pulumi.ResourceOptions] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        seen[(args.type_, args.name)] = args.opts
        return None

    def program() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            pulumi.runtime.register_stack_transformation(record)
        runpy.run_path(str(MAIN), run_name="__main__")

    run = run_program({**(config or DEV_CONFIG), **overrides}, stack, program=program)
    return run, seen


def policy_statements(run: ProgramRun, role: Recorded) -> list[dict[str, Any]]:
    """The statements of the one inline policy attached to ``role``."""
    policies = [
        p for p in run.of_type("aws:iam/rolePolicy:RolePolicy") if p.inputs["role"] == role.id
    ]
    assert len(policies) == 1, f"{role.name}: {len(policies)} inline policies"
    return json.loads(policies[0].inputs["policy"])["Statement"]


def trust_statements(role: Recorded) -> list[dict[str, Any]]:
    return json.loads(role.inputs["assumeRolePolicy"])["Statement"]
