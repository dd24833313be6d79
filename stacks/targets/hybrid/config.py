"""Pulumi stack config the program reads the front's CDK outputs from (plain, not secret):
switchyard:hybridFronts.<workload>.{queueUrl, region, resultsBucket}."""

FRONTS_CONFIG = "hybridFronts"
