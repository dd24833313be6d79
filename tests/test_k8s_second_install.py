"""Day two on one cluster: a redeploy after `pulumi destroy`, and a second stack beside the first.

The Pulumi program runs under mocks against a small stand-in for the API server that keeps its
objects between runs and behaves as pulumi-kubernetes >= 4.29 makes it behave: a plain object is
created client-side (AlreadyExists when one of that name is there), a Patch resource is a
Server-Side Apply (it creates or updates), and a Helm release name in use cannot be installed
again. `pulumi destroy` deletes what is not retained, and deleting a namespace deletes what is in it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cel
import pulumi
import pytest

from stacks.k8s import mocks
from stacks.k8s.security import NEVER_ADOPT_EXPRESSION, NEVER_ADOPT_POLICY
from stacks.workloads import load_all
from tests.conftest import copy_profiles
from tests.k8s_helpers import CLUSTER
from tests.runtime_helpers import slow_profile

pytestmark = pytest.mark.timeout(120)
ADDONS_OFF = CLUSTER.model_copy(update={"install_gpu_operator": False, "install_keda": False})


@dataclass
class ApiServer:
    objects: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (kind, namespace, name) -> URN name
    labels: dict[tuple[str, str, str], dict] = field(default_factory=dict)  # a namespace's labels

    def admits(self, key: tuple[str, str, str], patch_labels: dict) -> bool:
        """The never-adopt admission policy (CEL, as the API server evaluates it) on a namespace update."""
        old = self.labels.get(key, {})
        context = {
            "request": {"operation": "UPDATE"},
            "object": {"metadata": {"name": key[2], "labels": {**old, **patch_labels}}},
            "oldObject": {"metadata": {"name": key[2], "labels": old}},
        }
        return bool(cel.evaluate(NEVER_ADOPT_EXPRESSION, context))

    @staticmethod
    def key(r: mocks.Registered) -> tuple[str, str, str] | None:
        if r.type == mocks.HELM_RELEASE:
            return ("HelmRelease", r.inputs["namespace"], r.inputs["name"])
        if not r.type.startswith("kubernetes:") or "metadata" not in r.inputs:
            return None
        meta = r.inputs["metadata"]
        return (r.inputs["kind"], meta.get("namespace", ""), meta["name"])


@dataclass
class Stack(mocks.Recorder):
    """One `pulumi up` of one stack against the shared ApiServer."""

    server: ApiServer = field(default_factory=ApiServer)
    retained: dict[str, bool] = field(default_factory=dict)  # resource name -> retain_on_delete
    refused: list[str] = field(default_factory=list)  # what the API server (or Helm) answered with an error
    declared_before: set[str] = field(default_factory=set)  # this stack's state from its previous `pulumi up`

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        r = mocks.Registered(args.typ, args.name, dict(args.inputs))
        key = ApiServer.key(r)
        if key is not None and self.server.objects.get(key) == args.name and args.name in self.declared_before:
            pass  # the same stack's own object, in its state: an update, not a create
        elif key is not None:
            patch = args.typ.endswith("Patch")
            labels = dict((r.inputs.get("metadata") or {}).get("labels") or {})
            if key[0] == "Namespace" and key in self.server.objects and patch and not self.server.admits(key, labels):
                self.refused.append(f"Namespace {key[2]}: denied by the never-adopt policy")
            elif key in self.server.objects and not patch:
                what = "cannot re-use a name that is still in use" if key[0] == "HelmRelease" else "already exists"
                # recorded, not raised: a failed registration would poison the mocks' runtime for later tests
                self.refused.append(f"{key[0]} {key[1]}/{key[2]}: {what}")
            else:
                self.server.objects[key] = args.name
                if key[0] == "Namespace":
                    self.server.labels[key] = {**self.server.labels.get(key, {}), **labels}
        return super().new_resource(args)

    def destroy(self, keep: set[str] = frozenset()) -> None:
        """What `pulumi destroy` leaves (or an update that declares only `keep`): retained objects,
        unless their namespace went."""
        gone = {
            key
            for key, name in self.server.objects.items()
            if name in self.names and name not in keep and not self.retained.get(name)
        }
        deleted_namespaces = {k[2] for k in gone if k[0] == "Namespace"}
        self.server.objects = {
            k: v for k, v in self.server.objects.items() if k not in gone and k[1] not in deleted_namespaces
        }

    @property
    def names(self) -> set[str]:
        return {r.name for r in self.resources}


def up(
    profiles, settings, server: ApiServer, monkeypatch, tmp_path, previous: Stack | None = None, stack_name="dev"
) -> Stack:
    stack = Stack(server=server, declared_before=previous.names if previous else set())
    original = pulumi.CustomResource.__init__

    def recording(self, t, name, props=None, opts=None, *args, **kwargs):
        stack.retained[name] = bool(opts and opts.retain_on_delete)
        original(self, t, name, props, opts, *args, **kwargs)

    monkeypatch.setattr(pulumi.CustomResource, "__init__", recording)
    try:
        mocks.run(load_all([profiles]), settings, tmp_path / "build", recorder=stack, stack=stack_name)
    finally:
        monkeypatch.setattr(pulumi.CustomResource, "__init__", original)
    return stack


def test_a_redeploy_after_destroy_applies_over_the_guard_and_namespaces_it_left(tmp_path, monkeypatch):
    server = ApiServer()
    first = up(copy_profiles(tmp_path / "a"), CLUSTER, server, monkeypatch, tmp_path)
    first.destroy()
    # the guard, the add-on namespaces and their releases outlive the destroy: other tenants use them
    left = {k for k in server.objects}
    assert ("ValidatingAdmissionPolicy", "", NEVER_ADOPT_POLICY) in left
    assert ("Namespace", "", "gpu-operator") in left and ("HelmRelease", "keda", "keda") in left
    # the same stack again, its add-ons left to the cluster that runs them (README: a second install)
    again = up(copy_profiles(tmp_path / "b"), ADDONS_OFF, server, monkeypatch, tmp_path)
    assert again.refused == []
    assert "switchyard-never-adopt" in again.names and "fraud-scoring-deployment" in again.names


def test_a_second_stack_on_the_same_cluster_shares_the_install_once_objects(tmp_path, monkeypatch):
    server = ApiServer()
    up(copy_profiles(tmp_path / "a", drop=("llm-chat",)), CLUSTER, server, monkeypatch, tmp_path)
    second = up(copy_profiles(tmp_path / "b", drop=("fraud-scoring",)), ADDONS_OFF, server, monkeypatch, tmp_path)
    assert second.refused == []
    assert "llm-chat-deployment" in second.names
    assert [k for k in server.objects if k[0] == "ValidatingAdmissionPolicy"] == [
        ("ValidatingAdmissionPolicy", "", NEVER_ADOPT_POLICY)
    ]


def test_a_second_stack_that_also_installs_the_add_ons_is_refused_by_helm_not_by_the_guard(tmp_path, monkeypatch):
    """The releases are the one install-once object a stack may not share: README says which stack owns them."""
    server = ApiServer()
    up(copy_profiles(tmp_path / "a", drop=("llm-chat",)), CLUSTER, server, monkeypatch, tmp_path)
    second = up(copy_profiles(tmp_path / "b", drop=("fraud-scoring",)), CLUSTER, server, monkeypatch, tmp_path)
    assert sorted(second.refused) == [
        "HelmRelease gpu-operator/gpu-operator: cannot re-use a name that is still in use",
        "HelmRelease keda/keda: cannot re-use a name that is still in use",
    ]


def test_the_guard_can_be_left_to_the_clusters_own_policy_engine(tmp_path, monkeypatch):
    import pulumi_kubernetes as k8s

    waits: dict[str, list[str]] = {}
    original = k8s.core.v1.Namespace

    def recording(resource_name, *args, **kwargs):
        deps = (kwargs.get("opts") or pulumi.ResourceOptions()).depends_on or []
        waits[resource_name] = [d._name for d in deps]
        return original(resource_name, *args, **kwargs)

    monkeypatch.setattr(k8s.core.v1, "Namespace", recording)
    off = CLUSTER.model_copy(update={"never_adopt_guard": False})
    stack = up(copy_profiles(tmp_path), off, ApiServer(), monkeypatch, tmp_path)
    assert stack.refused == []
    assert not {n for n in stack.names if n.startswith(NEVER_ADOPT_POLICY)}
    assert waits and all(deps == [] for deps in waits.values()), waits


def _async_profiles(dest, target: str):
    profile = slow_profile(dest, {"name: slow-model\n": f"name: slow-model\ntarget: {target}\n"})
    return profile.parent


def test_moving_an_async_workload_off_the_cluster_keeps_its_queue_and_its_data(tmp_path, monkeypatch):
    """The runbook drains the queue after the move: the Redis, its volume and its namespace must still
    be there when the program no longer declares the workload (backlog, pending, dead letters, results)."""
    server = ApiServer()
    first = up(_async_profiles(tmp_path / "k8s", "kubernetes"), CLUSTER, server, monkeypatch, tmp_path)
    ns = next(k[2] for k, name in server.objects.items() if name == "slow-model-namespace")
    assert ("PersistentVolumeClaim", ns, "slow-model-redis-data") in server.objects
    moved = up(_async_profiles(tmp_path / "aws", "serverless"), CLUSTER, server, monkeypatch, tmp_path, first)
    assert moved.refused == [] and not {n for n in moved.names if n.startswith("slow-model")}
    first.destroy(keep=moved.names)  # what `pulumi up` deletes: what the program no longer declares
    left = {k for k in server.objects if k[1] == ns} | {k for k in server.objects if k[2] == ns}
    assert {
        ("Namespace", "", ns),
        ("PersistentVolumeClaim", ns, "slow-model-redis-data"),
        ("Deployment", ns, "slow-model-redis"),
        ("Service", ns, "slow-model-redis"),
        ("Secret", ns, "slow-model-redis"),
        ("NetworkPolicy", ns, "slow-model-redis"),
    } <= left
    assert ("Deployment", ns, "slow-model") not in left  # the server itself goes: nothing consumes any more


def test_a_sync_workload_leaves_nothing_behind_when_it_moves(tmp_path, monkeypatch):
    server = ApiServer()
    first = up(copy_profiles(tmp_path / "a"), ADDONS_OFF, server, monkeypatch, tmp_path)
    moved = up(copy_profiles(tmp_path / "b", drop=("fraud-scoring",)), ADDONS_OFF, server, monkeypatch, tmp_path, first)
    first.destroy(keep=moved.names)
    assert not [k for k in server.objects if "fraud-scoring" in k[1] or "fraud-scoring" in k[2]]


def _ns_objects(server: ApiServer, ns: str) -> set[tuple[str, str, str]]:
    return {k for k in server.objects if k[1] == ns or (k[0] == "Namespace" and k[2] == ns)}


def test_an_async_workload_survives_destroy_and_redeploy_twice_on_its_kept_queue(tmp_path, monkeypatch):
    """`pulumi destroy` keeps the queue (backlog, dead letters, results): the next `pulumi up` of the
    same stack must apply over what it kept, not stop at AlreadyExists on its namespace."""
    server = ApiServer()
    stack = up(_async_profiles(tmp_path / "k8s", "kubernetes"), CLUSTER, server, monkeypatch, tmp_path)
    for round_ in range(2):
        stack.destroy()
        ns = "ml-slow-model"
        assert ("PersistentVolumeClaim", ns, "slow-model-redis-data") in _ns_objects(server, ns)
        stack = up(
            _async_profiles(tmp_path / f"again{round_}", "kubernetes"), ADDONS_OFF, server, monkeypatch, tmp_path
        )
        assert stack.refused == [], (round_, stack.refused)
        assert "slow-model-deployment" in stack.names


def test_moving_an_async_workload_back_adopts_its_kept_queue(tmp_path, monkeypatch):
    """Off to serverless and back before the Redis was drained (a rollback): the kept Redis, with
    what it still holds, serves the workload again."""
    server = ApiServer()
    first = up(_async_profiles(tmp_path / "k8s", "kubernetes"), CLUSTER, server, monkeypatch, tmp_path)
    moved = up(_async_profiles(tmp_path / "aws", "serverless"), CLUSTER, server, monkeypatch, tmp_path, first)
    first.destroy(keep=moved.names)
    back = up(_async_profiles(tmp_path / "back", "kubernetes"), CLUSTER, server, monkeypatch, tmp_path, moved)
    assert back.refused == []
    assert ("PersistentVolumeClaim", "ml-slow-model", "slow-model-redis-data") in server.objects


def test_a_new_redis_password_restarts_the_redis_that_reads_it_at_start(tmp_path, monkeypatch):
    """A stack that adopts a kept Redis generates a new password: Redis reads its auth file once, so
    its pods must roll with the Secret or the workers are refused (WRONGPASS) on the kept backlog."""

    @dataclass
    class Generating(mocks.Recorder):
        password: str = ""

        def new_resource(self, args):
            name, outputs = super().new_resource(args)
            if args.typ == mocks.RANDOM_PASSWORD:
                outputs = {**outputs, "result": self.password}
            return name, outputs

    templates = []
    for password in ("first-password", "second-password"):
        recorder = Generating(password=password)
        profiles = _async_profiles(tmp_path / password, "kubernetes")
        mocks.run(load_all([profiles]), CLUSTER, tmp_path / "b", recorder=recorder)
        redis = next(r for r in recorder.resources if r.name == "slow-model-redis-deployment")
        templates.append(redis.inputs["spec"]["template"]["metadata"])
    assert templates[0] != templates[1] and password not in str(templates)


def test_a_second_stack_declaring_the_same_async_workload_cannot_take_over_the_first_ones_queue(tmp_path, monkeypatch):
    """Kept queues are patches so that their own stack can apply over them again; another stack that
    declares the same workload (README: names must differ) is refused, not handed the live Redis."""
    server = ApiServer()
    up(_async_profiles(tmp_path / "a", "kubernetes"), CLUSTER, server, monkeypatch, tmp_path, stack_name="team-a")
    other = up(
        _async_profiles(tmp_path / "b", "kubernetes"), ADDONS_OFF, server, monkeypatch, tmp_path, stack_name="team-b"
    )
    assert "Namespace ml-slow-model: denied by the never-adopt policy" in other.refused
    assert server.labels[("Namespace", "", "ml-slow-model")]["switchyard.dev/stack"] == "switchyard.team-a"
