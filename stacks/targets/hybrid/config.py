"""Pulumi stack config the program reads the front's CDK outputs from (plain, not secret):
switchyard:hybridFronts.<workload>.{queueUrl, region, resultsBucket}."""

from stacks.profile.names import CREDENTIALS_CONFIG, FRONTS_CONFIG

__all__ = ["CREDENTIALS_CONFIG", "FRONTS_CONFIG"]
