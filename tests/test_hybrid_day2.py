"""Day two of a hybrid worker on the cluster: a second `pulumi up` after the plan changed (new
traffic figures, the profiles moved to another folder) must update the worker in place. A
Deployment's `spec.selector` is immutable: the API server refuses a change to it, and Pulumi
replaces the Deployment instead (every worker stops at once while messages are in flight)."""

from __future__ import annotations

import shutil

from stacks.k8s.naming import PLAN_LABEL, PROFILE_LABEL
from tests.conftest import FIXTURES
from tests.k8s_helpers import CLUSTER, find, manifests

NAME = "image-tagging"


def _worker_objects(tmp_path, folder: str, avg_rps: int) -> list[dict]:
    profiles = tmp_path / folder
    shutil.copytree(FIXTURES / "hybrid", profiles)
    path = profiles / f"{NAME}.yaml"
    path.write_text(path.read_text().replace("avg_rps: 8", f"avg_rps: {avg_rps}"))
    return manifests(profiles, tmp_path / f"{folder}-build", CLUSTER)[NAME]


def test_a_second_deploy_after_a_plan_change_keeps_every_selector(tmp_path):
    first = _worker_objects(tmp_path, "profiles", 8)
    second = _worker_objects(tmp_path, "moved", 10)
    first_deploy, second_deploy = find(first, "Deployment", NAME), find(second, "Deployment", NAME)
    # The plan did change: the ownership labels say so on every object ...
    assert first_deploy["metadata"]["labels"][PLAN_LABEL] != second_deploy["metadata"]["labels"][PLAN_LABEL]
    # ... but nothing that selects pods may follow it.
    selector = first_deploy["spec"]["selector"]["matchLabels"]
    assert selector == second_deploy["spec"]["selector"]["matchLabels"]
    assert PLAN_LABEL not in selector and PROFILE_LABEL not in selector
    for docs in (first, second):
        deploy = find(docs, "Deployment", NAME)
        pods = deploy["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= pods.items()  # the Deployment selects its own pods
        # A new plan must not roll every worker either: the pods carry no plan revision.
        assert PLAN_LABEL not in pods
        assert find(docs, "PodDisruptionBudget", NAME)["spec"]["selector"]["matchLabels"] == selector
        assert find(docs, "NetworkPolicy", NAME)["spec"]["podSelector"]["matchLabels"] == selector
    # Same names on both runs: nothing is created beside the old objects or left orphaned.
    assert sorted((d["kind"], d["metadata"]["name"]) for d in first) == sorted(
        (d["kind"], d["metadata"]["name"]) for d in second
    )
