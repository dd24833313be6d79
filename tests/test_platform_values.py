"""Platform values that end up verbatim in a deployed template (the region, interface endpoint service
names) are checked where they are written: a typo must fail validation with its line, not `cdk deploy`."""

from __future__ import annotations

import pytest

from stacks.errors import ProfileError
from stacks.profile.loader import load_profile
from tests.conftest import VALID


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ("region: us-east1", "platform.region"),  # the dash forgotten
        ("region: mars-1", "platform.region"),
        ("region: US-EAST-1", "platform.region"),
        ('interface_endpoints: ["Bogus Service!"]', "platform.interface_endpoints[0]"),
        ('interface_endpoints: ["sqs", ""]', "platform.interface_endpoints[1]"),
    ],
)
def test_a_value_no_aws_template_could_deploy_is_refused_with_its_line(write_profile, line, key):
    path = write_profile(VALID)
    platform = path.parent / "platform.yaml"
    platform.write_text(f"platform:\n  {line}\n", encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    assert str(info.value).startswith(f"{platform}:2: {key}:"), str(info.value)


@pytest.mark.parametrize(
    "line",
    [
        "region: eu-west-1",
        "region: us-gov-west-1",
        "region: ap-southeast-2",
        'interface_endpoints: ["sqs", "ecr.api", "xray"]',
    ],
)
def test_real_values_still_load(write_profile, line):
    path = write_profile(VALID)
    (path.parent / "platform.yaml").write_text(f"platform:\n  {line}\n", encoding="utf-8")
    load_profile(path)
