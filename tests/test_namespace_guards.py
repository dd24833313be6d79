"""A workload can never take over, or delete, a namespace it does not own (issue 15, Kubernetes half)."""

from __future__ import annotations

import cel
import pytest

from stacks.errors import ProfileError
from stacks.k8s import program
from stacks.k8s.naming import MANAGED_BY
from stacks.k8s.security import NEVER_ADOPT_EXPRESSION
from stacks.k8s.settings import ClusterSettings, RedisMode
from stacks.k8s.vendor import GPU_OPERATOR, KEDA, KEDA_HTTP_NAMESPACE
from stacks.profile.loader import load_profile
from stacks.profile.names import DEFAULT_ADDON_NAMESPACES
from stacks.workloads import load_all
from tests.conftest import VALID, copy_profiles
from tests.k8s_helpers import CLUSTER, write_platform


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("kube-system", "reserved for Kubernetes itself (kube-*)"),
        ("kube-public", "reserved for Kubernetes itself (kube-*)"),
        ("default", "the cluster's default namespace"),
        ("keda", "belongs to the KEDA add-on"),
        ("gpu-operator", "belongs to the GPU Operator add-on"),
        ("monitoring", "belongs to the monitoring add-on"),
        ("switchyard", "belongs to the queue (Redis) add-on"),
    ],
)
def test_reserved_names_are_refused_at_validation(write_profile, name, rule):
    path = write_profile(VALID.replace("name: demo-api", f"name: {name}"))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    (problem,) = err.value.problems
    assert (problem.line, problem.path) == (2, "name")
    assert rule in problem.message
    assert f"{path}:2: name: '{name}': namespace '{name}'" in str(err.value)


def test_validation_reserves_the_namespaces_the_charts_install_into():
    # Validation knows the add-on namespaces without importing the Kubernetes builder: the two lists
    # must name the same namespaces, or a workload could validate into the GPU Operator's.
    assert DEFAULT_ADDON_NAMESPACES["GPU Operator"] == GPU_OPERATOR.namespace
    assert DEFAULT_ADDON_NAMESPACES["KEDA"] == KEDA.namespace
    assert DEFAULT_ADDON_NAMESPACES["KEDA HTTP add-on"] == KEDA_HTTP_NAMESPACE
    # and the cluster's defaults (a stack config naming others is checked by the program itself)
    defaults = ClusterSettings(redis_mode=RedisMode.existing).addon_namespaces()
    assert {k: v for k, v in defaults.items() if k in DEFAULT_ADDON_NAMESPACES} == DEFAULT_ADDON_NAMESPACES


def test_a_foreign_namespace_from_the_platform_settings_is_refused(write_profile, tmp_path):
    (tmp_path / "platform.yaml").write_text(
        "platform:\n  k8s_namespace_prefix: team-\n  k8s_foreign_namespaces: [team-billing]\n"
    )
    path = write_profile(VALID.replace("name: demo-api", "name: billing"))
    with pytest.raises(ProfileError, match=r"namespace 'team-billing' is listed as foreign"):
        load_profile(path)
    assert load_profile(write_profile(VALID, "ok.yaml")).profile.name == "demo-api"


def test_a_prefix_that_reaches_kube_namespaces_is_refused(write_profile, tmp_path):
    (tmp_path / "platform.yaml").write_text("platform:\n  k8s_namespace_prefix: kube-\n")
    with pytest.raises(ProfileError, match=r"namespace 'kube-demo-api' is reserved for Kubernetes itself"):
        load_profile(write_profile(VALID))


def test_the_program_also_refuses_add_on_namespaces_its_stack_names(tmp_path):
    profiles = copy_profiles(tmp_path)
    write_platform(profiles, "platform:\n  k8s_namespace_prefix: ''\n")
    batch = load_all([profiles])
    settings = CLUSTER.model_copy(update={"monitoring_namespace": "fraud-scoring"})
    with pytest.raises(
        ProfileError,
        match=r"fraud-scoring.yaml:3: name: 'fraud-scoring': namespace 'fraud-scoring' belongs to the monitoring add-on",
    ):
        program.check_namespaces(batch.by_target("kubernetes"), settings)


def _admit(operation: str, old_labels: dict | None, new_labels: dict) -> bool:
    """Evaluate the cluster's never-adopt admission policy the way the API server does (CEL)."""
    context = {
        "request": {"operation": operation},
        "object": {"metadata": {"name": "ml-demo", "labels": new_labels}},
        "oldObject": None if old_labels is None else {"metadata": {"name": "ml-demo", "labels": old_labels}},
    }
    return bool(cel.evaluate(NEVER_ADOPT_EXPRESSION, context))


def test_a_pre_existing_namespace_is_not_adopted():
    ours = {MANAGED_BY: "switchyard", "pod-security.kubernetes.io/enforce": "restricted"}
    # someone else's namespace with the workload's would-be name: labelling it ours is refused
    assert _admit("UPDATE", {"team": "billing"}, {"team": "billing", **ours}) is False
    assert _admit("UPDATE", {MANAGED_BY: "helm"}, {**ours}) is False
    # creating it is allowed, and so is updating one Switchyard created
    assert _admit("CREATE", None, ours) is True
    assert _admit("UPDATE", ours, {**ours, "extra": "x"}) is True
    # updates that do not claim it are none of the policy's business
    assert _admit("UPDATE", {"team": "billing"}, {"team": "billing", "x": "y"}) is True


def test_plan_lists_what_each_kubernetes_workload_owns_and_where_it_answers(capsys, tmp_path):
    import json

    from stacks.cli import main

    profiles = write_platform(copy_profiles(tmp_path), "platform:\n  k8s_namespace_prefix: team-a-\n")
    main(["plan", str(profiles)])
    text = capsys.readouterr().out
    assert "  owns:   namespace team-a-llm-chat; reachable at http://llm-chat.team-a-llm-chat.svc.cluster.local" in text
    main(["plan", "--json", str(profiles)])
    doc = {w["name"]: w for w in json.loads(capsys.readouterr().out)["workloads"]}
    assert doc["fraud-scoring"]["kubernetes"] == {
        "namespaces": ["team-a-fraud-scoring"],
        "service": "http://fraud-scoring.team-a-fraud-scoring.svc.cluster.local",
    }


def test_stack_outputs_name_each_service_and_its_external_url():
    built = program.Built(namespaces={"llm-chat": "ml-llm-chat"})
    exposed = CLUSTER.model_copy(update={"expose": "gateway", "public_domain": "ai.example.org"})
    assert program.outputs(built, exposed) == {
        "llm-chat": {
            "namespace": "ml-llm-chat",
            "service": "http://llm-chat.ml-llm-chat.svc.cluster.local",
            "url": "https://llm-chat.ai.example.org",
        }
    }
    assert program.outputs(built, CLUSTER)["llm-chat"]["url"] is None
    plain_gateway = exposed.model_copy(update={"gateway_tls": False})
    assert program.outputs(built, plain_gateway)["llm-chat"]["url"] == "http://llm-chat.ai.example.org"
    ingress = CLUSTER.model_copy(update={"expose": "ingress", "public_domain": "ai.example.org"})
    assert program.outputs(built, ingress)["llm-chat"]["url"] == "http://llm-chat.ai.example.org"
    issued = ingress.model_copy(update={"tls_cluster_issuer": "letsencrypt"})
    assert program.outputs(built, issued)["llm-chat"]["url"] == "https://llm-chat.ai.example.org"


def test_the_refusal_says_how_to_recover_an_add_on_namespace_whose_label_was_removed_by_hand():
    """A human strips our label from gpu-operator; the next `pulumi up` is refused by the guard. Its
    advice must not be "remove the namespace yourself": that uninstalls every tenant's GPU Operator."""
    ours = {MANAGED_BY: "switchyard"}
    assert _admit("UPDATE", ours, {}) is True  # removing the label is nobody's business
    assert _admit("UPDATE", {}, ours) is False  # putting it back through Pulumi is refused
    from stacks.k8s.security import NEVER_ADOPT_MESSAGE

    assert "kubectl label namespace" in NEVER_ADOPT_MESSAGE and f"{MANAGED_BY}=switchyard" in NEVER_ADOPT_MESSAGE
    assert "installGpuOperator" in NEVER_ADOPT_MESSAGE and "never delete" in NEVER_ADOPT_MESSAGE
