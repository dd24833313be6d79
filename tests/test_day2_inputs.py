"""Day-two inputs an operator gets wrong: platform figures that cannot be true, a repeated alarm
address, and a stack config key Pulumi would silently ignore."""

from __future__ import annotations

import pytest

from stacks.errors import ProfileError, SwitchyardError
from stacks.k8s.settings import from_stack_file
from stacks.profile.loader import load_profile
from tests.conftest import VALID


def _platform_error(write_profile, platform: str) -> str:
    path = write_profile(VALID)
    (path.parent / "platform.yaml").write_text("platform:\n" + platform, encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        load_profile(path)
    return str(info.value)


def test_other_functions_cannot_reserve_more_than_the_account_lets_them(write_profile):
    """`get-account-settings` can never show others reserving more than quota - 100: such figures are
    a copy error (two fields swapped), located at the field, not a verdict on the workloads."""
    err = _platform_error(write_profile, "  lambda_account_concurrency: 100\n  lambda_reserved_by_others: 5000\n")
    assert "platform.yaml:3: platform.lambda_reserved_by_others" in err, err
    assert "5,000" in err and "at most 0" in err, err


def test_an_alarm_address_listed_twice_is_a_validation_error_not_a_traceback(write_profile):
    err = _platform_error(write_profile, "  alarm_emails: [oncall@example.com, OnCall@Example.com]\n")
    assert "platform.alarm_emails" in err and "more than once" in err, err


def _stack(tmp_path, body: str) -> str:
    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n" + body, encoding="utf-8")
    return str(path)


def test_a_misspelt_stack_config_key_is_refused_with_the_key_it_meant(tmp_path):
    """`installKEDA: "false"` on a second stack was ignored: KEDA installed again, Helm refused."""
    with pytest.raises(SwitchyardError) as info:
        from_stack_file(_stack(tmp_path, '  switchyard:installKEDA: "false"\n  kubernetes:context: lab\n'))
    assert "switchyard:installKEDA" in str(info.value) and "did you mean switchyard:installKeda" in str(info.value)


def test_a_boolean_stack_setting_is_true_or_false_as_pulumi_reads_it(tmp_path):
    with pytest.raises(SwitchyardError) as info:
        from_stack_file(_stack(tmp_path, '  switchyard:installKeda: "no"\n'))
    assert "switchyard:installKeda" in str(info.value) and "'no'" in str(info.value)


def test_pulumi_up_refuses_the_misspelt_key_too(monkeypatch):
    import pulumi

    from stacks.k8s.settings import from_pulumi_config

    monkeypatch.setattr(pulumi.runtime.config, "CONFIG", pulumi.runtime.config.ContextVar("t", default={}))
    pulumi.runtime.set_all_config({"switchyard:weightsEndpointURL": "http://minio:9000", "kubernetes:context": "x"})
    with pytest.raises(SwitchyardError, match="did you mean switchyard:weightsEndpointUrl"):
        from_pulumi_config(pulumi.Config("switchyard"))
