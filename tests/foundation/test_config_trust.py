"""Settings of the cell router's trust boundaries (issue #10)."""

from __future__ import annotations

import pytest

from config import ConfigError, parse_settings
from tests.pulumi_harness import DEV_CONFIG


def test_defaults_are_closed_where_it_matters():
    router = parse_settings(DEV_CONFIG, stack="dev").cell_router
    assert router.provisioning_principals == ()  # nobody may announce cells
    assert router.cell_endpoint_domains == ()  # any public DNS name, https only
    assert router.max_cells_per_market == 20
    assert (router.sign_up_policy, router.sign_up_allowed_domains) == ("open", ())
    assert (router.waf_enabled, router.waf_rate_limit) == (False, 300)


def test_values_parse():
    router = parse_settings(
        {**DEV_CONFIG,
         "provisioningPrincipals": '["arn:aws:iam::210987654321:role/provisioner"]',
         "cellEndpointDomains": ["cells.example.com"], "maxCellsPerMarket": "0",
         "signUpPolicy": "allowedDomains", "signUpAllowedDomains": ["example.com"],
         "wafEnabled": "true", "wafRateLimit": 100},
        stack="dev",
    ).cell_router  # fmt: skip
    assert router.provisioning_principals == ("arn:aws:iam::210987654321:role/provisioner",)
    assert router.cell_endpoint_domains == ("cells.example.com",)
    assert router.max_cells_per_market == 0
    assert router.sign_up_allowed_domains == ("example.com",)
    assert (router.waf_enabled, router.waf_rate_limit) == (True, 100)


BAD = [
    ({"provisioningPrincipals": ["210987654321"]}, "provisioningPrincipals: '210987654321' is"),
    ({"provisioningPrincipals": ["*"]}, "provisioningPrincipals: '*' is not an IAM role"),
    ({"cellEndpointDomains": ["10.0.0.1"]}, "cellEndpointDomains: '10.0.0.1' ends in a numeric"),
    ({"cellEndpointDomains": ["localhost"]}, "cellEndpointDomains: 'localhost' is not a domain"),
    ({"maxCellsPerMarket": -1}, "maxCellsPerMarket: must be between 0 and 10000"),
    ({"signUpPolicy": "invite"}, "signUpPolicy: must be one of open, allowedDomains, adminOnly"),
    ({"signUpPolicy": "allowedDomains"}, "signUpAllowedDomains: needs at least one domain"),
    ({"wafRateLimit": 5}, "wafRateLimit: must be between 10 and"),
]


@pytest.mark.parametrize(("override", "message"), BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_each_invalid_setting_names_its_key(override, message):
    with pytest.raises(ConfigError) as err:
        parse_settings({**DEV_CONFIG, **override}, stack="dev")
    assert f"resilient-routing:{message}" in str(err.value)
