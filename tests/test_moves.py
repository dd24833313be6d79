"""Moving a workload between any two registered targets: `plan --check` shows the move and a runbook
that deploys the new target first, moves callers and producers, keeps the old queue until it is
empty, moves dead letters, says where results are before and after, removes the old target last,
and ends with `switchyard smoke`. Every ordered pair of TARGETS, whichever targets are registered."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import re
import shlex
import shutil
import subprocess

import pytest

from stacks.commands import lock, plan
from stacks.pricebook import Platform
from stacks.targets import TARGETS
from stacks.targets.serverless.installation import instances_stack, platform_stack
from stacks.workloads import load_all
from tests.cli_helpers import switchyard
from tests.conftest import FIXTURES

PAIRS = [(a.target.value, b.target.value) for a, b in itertools.permutations(TARGETS, 2)]
NAME = "image-tagging"
PLATFORM = Platform()


def ends(old: str, new: str):
    by = {t.target.value: t for t in TARGETS}
    return by[old].move_end(NAME, PLATFORM), by[new].move_end(NAME, PLATFORM)


def index(steps: list[str], text: str) -> int:
    hits = [i for i, s in enumerate(steps) if text in s]
    assert hits, f"no step with {text!r}:\n" + "\n".join(steps)
    return hits[0]


def capture_stdout(fn, *args, **kwargs) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        fn(*args, **kwargs)
    return out.getvalue()


def test_every_registered_target_is_in_a_pair():
    assert {t for pair in PAIRS for t in pair} == {t.target.value for t in TARGETS}
    assert len(PAIRS) == len(TARGETS) * (len(TARGETS) - 1)


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_the_runbook_of_every_move_keeps_callers_and_messages(old, new):
    o, n = ends(old, new)
    steps = lock.runbook(NAME, old, new, PLATFORM)
    assert [int(s.split(".", 1)[0]) for s in steps] == list(range(1, len(steps) + 1))
    assert steps[-1].endswith(f"switchyard smoke {NAME}")
    # the new target is up and checked before the old one goes
    up = index(steps, "check health:")
    assert n.health in steps[up]
    removed = [i for i, s in enumerate(steps) if "remove the old target" in s or "swap the cluster part" in s]
    assert removed
    same_cluster = o.namespace is not None and o.namespace == n.namespace
    if not same_cluster:
        assert up < min(removed)  # both run side by side until the old one is removed
    if o.sync and n.sync:
        moved = index(steps, "move synchronous callers")
        assert o.sync in steps[moved] and n.sync in steps[moved] and up < moved < min(removed)
    if o.queue and n.queue:
        # producers move, the old queue drains (or is relayed) before the old target is removed
        producers = index(steps, f"to {n.queue.send}")
        drained = [i for i, s in enumerate(steps) if o.queue.depth in s]
        assert drained and producers < max(drained)
        assert min(drained) < max(removed) or "relay" in steps[max(drained)]
        dead = index(steps, "dead letters:")
        assert o.queue.dead in steps[dead]
        results = index(steps, "results:")
        assert o.queue.results in steps[results] and n.queue.results in steps[results]
        assert o.queue.results_kept in steps[results]
    if o.aws_remove:
        assert o.aws_remove in steps[index(steps, "remove the old target's AWS part")]


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_a_synchronous_workload_moves_no_queue(old, new):
    steps = lock.runbook(NAME, old, new, PLATFORM, queued=False)
    assert not [s for s in steps if "dead letters:" in s or "move producers" in s or "results:" in s]
    assert steps[-1].endswith(f"switchyard smoke {NAME}")


def test_sqs_to_sqs_moves_dead_letters_with_a_move_task_to_the_new_queue():
    steps = lock.runbook(NAME, "serverless", "hybrid", PLATFORM)
    dead = steps[index(steps, "dead letters:")]
    # from the old stack's dead-letter queue (its URL output, its ARN from SQS) to the new stack's queue
    source, destination = dead.split("start-message-move-task --source-arn ", 1)[1].split(" --destination-arn ")
    assert "--stack-name Switchyard-image-tagging " in source and "OutputKey=='DeadLetterQueueUrl'" in source
    assert "--stack-name Switchyard-Front-image-tagging " in destination and "OutputKey=='QueueArn'" in destination
    # both stacks live side by side during the move: the old queue drains while the new one fills
    assert "Switchyard-Front-image-tagging" in steps[0] and "delete-stack --stack-name Switchyard-image-tagging " in (
        steps[index(steps, "remove the old target's AWS part")] + " "
    )


def test_moving_between_the_cluster_targets_drains_before_the_one_namespace_is_swapped():
    to_hybrid = lock.runbook(NAME, "kubernetes", "hybrid", PLATFORM)
    front, drained, swap = (index(to_hybrid, t) for t in ("npx cdk deploy", "XPENDING", "swap the cluster part"))
    assert front < drained < swap  # the SQS front takes producers while the Redis backlog drains
    assert "export what callers have not fetched" in to_hybrid[swap]
    back = lock.runbook(NAME, "hybrid", "kubernetes", PLATFORM)
    swap, relay = index(back, "swap the cluster part"), index(back, "relay what is left")
    assert swap < relay < index(back, "remove the old target's AWS part")


def test_plan_check_shows_the_move_and_its_runbook(tmp_path, capsys):
    profiles = tmp_path / "profiles"
    shutil.copytree(FIXTURES / "hybrid", profiles)
    plan.run([profiles], as_json=False, write_lock=True)
    lock_file = profiles / lock.LOCK_FILE
    doc = json.loads(lock_file.read_text())
    doc["workloads"][NAME]["target"] = "kubernetes"  # the reviewed plan had it on kubernetes
    lock_file.write_text(json.dumps(doc))
    capsys.readouterr()
    plan.run([profiles], as_json=False, check=True)
    out = capsys.readouterr().out
    assert f"{NAME}: target kubernetes -> hybrid" in out
    assert f"Runbook: move {NAME} from kubernetes to hybrid" in out
    smoke = lock.smoke_command(load_all([profiles]).workloads[0])
    assert smoke.startswith(f"switchyard smoke {NAME} ") and out.rstrip().endswith(smoke)
    plan.run([profiles], as_json=True, check=True)
    change = next(c for c in json.loads(capsys.readouterr().out)["changes"] if c["kind"] == "target")
    # image-tagging is async: its callers send messages and read results, none waits on an endpoint
    assert change["runbook"] == lock.runbook(NAME, "kubernetes", "hybrid", PLATFORM, synchronous=False, smoke=smoke)
    assert "synchronous call" not in out


def _deployed_and_removed(steps: list[str]) -> tuple[set[str], set[str]]:
    deployed = {
        stack
        for s in steps
        if "deploy the new target's AWS part: npx cdk deploy" in s
        for stack in s.split("npx cdk deploy ", 1)[1].split(",")[0].split()
    }
    removed = {
        m for s in steps if "remove the old target's AWS part" in s for m in re.findall(r"--stack-name (\S+)", s)
    }
    return deployed, removed


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_every_end_names_what_the_user_acts_on(old, new):
    """No step sends the user to the README: each end names its stack, endpoint, queue and dead letters."""
    steps = lock.runbook(NAME, old, new, PLATFORM)
    assert not [s for s in steps if "README" in s], "\n".join(steps)
    deployed, removed = _deployed_and_removed(steps)
    # The new stack runs beside the old one, and removing the old one never deletes the new one.
    assert not deployed & removed, "\n".join(steps)


LMI_PAIRS = [pair for pair in PAIRS if "managed-instances" in pair]


@pytest.mark.parametrize(("old", "new"), LMI_PAIRS)
def test_the_managed_instances_end_is_its_own_stack_its_api_its_queue(old, new):
    stack = instances_stack(NAME, PLATFORM.installation)
    steps = lock.runbook(NAME, old, new, PLATFORM)
    text = "\n".join(steps)
    if new == "managed-instances":
        assert f"npx cdk deploy {platform_stack()} {stack}" in steps[0]
        assert f"--stack-name {stack}" in steps[index(steps, "check health")]
        assert "--qualifier '$LATEST.PUBLISHED'" in steps[index(steps, "check health")]
    else:
        assert f"delete-stack --stack-name {stack} " in steps[index(steps, "remove the old target's AWS part")]
    if "hybrid" not in (old, new):  # both ends answer synchronous callers: they move URL and auth
        moved = steps[index(steps, "move synchronous callers")]
        assert f"{stack} HttpApiUrl output" in moved and "execute-api:Invoke" in moved
    else:
        assert (
            f"{stack} HttpApiUrl output" in steps[index(steps, "takes no synchronous call")]
            if old == "managed-instances"
            else "move synchronous callers" not in text
        )
    # Messages in flight: producers move, the old queue is kept until empty, its dead letters move.
    producers = steps[index(steps, "move producers")]
    assert f"{stack} QueueUrl output" in producers or "OutputKey=='QueueUrl'" in producers
    dead = steps[index(steps, "dead letters:")]
    if old == "managed-instances":
        assert f"the {stack} DeadLetterQueueUrl output" in dead
        drained = steps[index(steps, "until the queue is empty")]
        assert f"--stack-name {stack} " in drained and "ApproximateNumberOfMessagesNotVisible" in drained
    if {old, new} <= {"managed-instances", "serverless", "hybrid"}:  # SQS to SQS: one move task
        assert re.search(
            r"start-message-move-task --source-arn \$\(aws sqs get-queue-attributes .* --destination-arn \$\(", dead
        )
    assert steps[-1].endswith(f"switchyard smoke {NAME}")


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_an_asynchronous_workload_has_no_synchronous_callers_to_move(old, new):
    steps = lock.runbook(NAME, old, new, PLATFORM, synchronous=False)
    assert not [s for s in steps if "synchronous call" in s], "\n".join(steps)
    assert index(steps, "dead letters:") < len(steps) - 1


@pytest.mark.parametrize(("old", "new"), [p for p in PAIRS if "hybrid" not in p])
def test_a_synchronous_workload_leaves_no_queue_behind(old, new):
    steps = lock.runbook(NAME, old, new, PLATFORM, queued=False)
    assert not [s for s in steps if "queue" in s.lower() and "left behind" in s], "\n".join(steps)


@pytest.mark.parametrize(("old", "new"), PAIRS)
def test_a_step_that_names_another_step_names_the_right_one(old, new):
    """hybrid -> kubernetes said "producers keep sending to the front's queue until step 4" while step 4
    deleted the namespace and step 6 moved the producers: a reader followed it into the swap."""
    steps = lock.runbook(NAME, old, new, PLATFORM)
    for s in steps:
        for n in re.findall(r"until step (\d+)", s):
            assert "move producers" in steps[int(n) - 1], "\n".join(steps)


HYBRID_FROM = [pair for pair in PAIRS if pair[0] == "hybrid"]


@pytest.mark.parametrize(("old", "new"), HYBRID_FROM)
def test_removing_the_hybrid_front_deletes_its_users_keys_first(old, new):
    """The front's two IAM users hold access keys the operator created (never in a template): IAM refuses
    DeleteUser while a user has keys, so the stack's delete fails on them unless they go first, and a
    worker's key must not outlive its worker."""
    steps = lock.runbook(NAME, old, new, PLATFORM)
    remove = steps[index(steps, "remove the old target's AWS part")]
    keys, delete = remove.index("aws iam delete-access-key"), remove.index("aws cloudformation delete-stack")
    assert keys < delete
    assert "OutputKey=='WorkerUserName'" in remove and "OutputKey=='ScalerUserName'" in remove
    assert not [s for s in steps if "deactivate" in s], "\n".join(steps)
    left = steps[index(steps, "left behind:")]
    assert f"pulumi config rm --path 'switchyard:hybridCredentials.{NAME}'" in left


SQS_PAIRS = [p for p in PAIRS if set(p) <= {"serverless", "managed-instances", "hybrid"}]


@pytest.mark.parametrize(("old", "new"), SQS_PAIRS)
def test_the_dead_letter_move_is_a_command_to_run(old, new):
    steps = lock.runbook(NAME, old, new, PLATFORM)
    dead = steps[index(steps, "dead letters:")]
    command = dead.split(", then ", 1)[1]
    assert command.startswith("aws sqs start-message-move-task --source-arn $(aws sqs get-queue-attributes")
    assert "<" not in command, command  # nothing left to look up by hand
    assert "OutputKey=='DeadLetterQueueUrl'" in command and "OutputKey=='QueueArn'" in command


def test_the_runbook_ends_with_a_smoke_test_that_finds_the_workload(tmp_path):
    """The last step was `switchyard smoke <name>`: from a profiles folder not named profiles/ it found no
    workload, a custom model needs --input, and it reads the outputs `cdk deploy --outputs-file` writes."""
    team = tmp_path / "team-a"
    shutil.copytree(FIXTURES / "hybrid", team)
    plan.run([team], as_json=False, write_lock=True)
    doc = json.loads((team / lock.LOCK_FILE).read_text())
    doc["workloads"][NAME]["target"] = "kubernetes"
    (team / lock.LOCK_FILE).write_text(json.dumps(doc))
    (change,) = [c for c in json.loads(capture_stdout(plan.run, [team], as_json=True, check=True))["changes"]]
    steps = change["runbook"]
    deploy = steps[index(steps, "npx cdk deploy")]
    assert "--outputs-file cdk-outputs.json" in deploy
    smoke = shlex.split(steps[-1].split(": ", 1)[1])
    assert smoke[:4] == ["switchyard", "smoke", NAME, str(team)]
    assert smoke[4] == "--input"
    smoke[5] = '"a great product"'  # the one value the operator fills in
    r = switchyard(*smoke[1:], cwd=tmp_path)
    assert r.returncode != 0  # nothing is deployed here ...
    assert "not deployed" in r.stderr or "unknown" in r.stderr, r.stderr  # ... but the workload was found
    assert "no workload named" not in r.stderr and "--input" not in r.stderr


def test_the_front_removal_runs_as_written_against_an_aws_cli_stand_in(tmp_path):
    """The removal step run by bash with a stand-in `aws` on PATH that answers as AWS would: every key of
    both users is deleted, then the stack, in that order."""
    aws = tmp_path / "bin" / "aws"
    aws.parent.mkdir()
    log = tmp_path / "calls"
    aws.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        'case "$*" in\n'
        "  *WorkerUserName*) echo Switchyard-Front-image-tagging-FrontWorkerUser-1A ;;\n"
        "  *ScalerUserName*) echo Switchyard-Front-image-tagging-FrontScalerUser-2B ;;\n"
        "  *list-access-keys*WorkerUser*) printf 'AKIAWORKER1\\tAKIAWORKER2\\n' ;;\n"
        "  *list-access-keys*ScalerUser*) echo AKIASCALER1 ;;\n"
        "esac\n"
    )
    aws.chmod(0o755)
    step = lock.runbook(NAME, "hybrid", "serverless", PLATFORM)
    remove = step[index(step, "remove the old target's AWS part")]
    command = remove.split("then the stack: ", 1)[1]
    env = {"PATH": f"{aws.parent}:/usr/bin:/bin"}
    subprocess.run(["bash", "-euo", "pipefail", "-c", command], check=True, env=env, timeout=30)
    calls = log.read_text().splitlines()
    deletes = [c for c in calls if c.startswith("iam delete-access-key")]
    assert [c.split("--access-key-id ")[1] for c in deletes] == ["AKIAWORKER1", "AKIAWORKER2", "AKIASCALER1"]
    assert "--user-name Switchyard-Front-image-tagging-FrontScalerUser-2B" in deletes[-1]
    stack = [i for i, c in enumerate(calls) if c.startswith("cloudformation delete-stack")]
    assert stack and stack[0] > calls.index(deletes[-1])
    assert calls[-1] == "cloudformation wait stack-delete-complete --stack-name Switchyard-Front-image-tagging"
