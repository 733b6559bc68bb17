"""One explicit ``aws`` and one ``aws-native`` provider per region.

``Pulumi.yaml`` disables the default providers, so every resource must get a
provider from here; a resource that does not fails ``pulumi up`` at once
instead of landing in whatever region the environment happens to name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_aws_native as aws_native


@dataclass(frozen=True)
class RegionProviders:
    """The providers of one region, and options that hand them to a child."""

    region: str
    aws: aws.Provider
    native: aws_native.Provider

    def child_opts(self, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for a regional child component: both providers, by package."""
        return pulumi.ResourceOptions(
            parent=parent, providers={"aws": self.aws, "aws-native": self.native}
        )

    def opts(self, **kwargs) -> pulumi.ResourceOptions:
        """Options for a top-level regional component."""
        return pulumi.ResourceOptions(
            providers={"aws": self.aws, "aws-native": self.native}, **kwargs
        )


def region_providers(
    name: str,
    region: str,
    tags: Mapping[str, str],
    *,
    depends_on: pulumi.Input[pulumi.Resource] | None = None,
) -> RegionProviders:
    """Build the two providers of ``region``; ``tags`` become default tags.
    ``depends_on`` holds back both providers, and so every resource of the
    region, until it resolves (``config.lex_topology_guard``)."""
    opts = pulumi.ResourceOptions(depends_on=[depends_on] if depends_on is not None else None)
    aws_provider = aws.Provider(
        f"{name}-aws",
        region=region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=dict(tags)),
        opts=opts,
    )
    native_provider = aws_native.Provider(
        f"{name}-aws-native",
        region=region,
        default_tags=aws_native.ProviderDefaultTagsArgs(tags=dict(tags)),
        opts=opts,
    )
    return RegionProviders(region=region, aws=aws_provider, native=native_provider)
