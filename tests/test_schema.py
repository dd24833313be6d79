"""The committed JSON Schema is current, and every example profile uses and satisfies it."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from stacks.commands.schema import render
from stacks.profile.loader import discover
from tests.conftest import PROFILES, SCHEMA

EXAMPLES = [p for p in discover([PROFILES]) if p.suffix == ".yaml"]


def test_schema_is_current():
    committed = SCHEMA.read_text(encoding="utf-8")
    assert committed == render(), "profiles/schema.json is stale: run `switchyard schema`"


def test_examples_cover_the_four_kinds_of_workload():
    names = {p.stem for p in EXAMPLES}
    assert {"sentiment-api", "nightly-embeddings", "llm-chat", "fraud-scoring"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_starts_with_schema_comment(path):
    assert path.read_text(encoding="utf-8").splitlines()[0] == "# yaml-language-server: $schema=./schema.json"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_satisfies_schema(path):
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)


def test_schema_rejects_what_the_loader_rejects():
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    doc = yaml.safe_load((PROFILES / "sentiment-api.yaml").read_text(encoding="utf-8"))
    doc["model"]["memroy_gb"] = 2  # an editor must flag the same typo
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema)
