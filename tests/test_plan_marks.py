"""The text plan shows every target's bill and says which one was chosen, which cannot run the
workload (its first blocker) and which the platform does not offer: an option it rules out must not
read like one more choice, least of all when its bill is the lowest. `--json` carries the same."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from stacks.commands import plan
from stacks.commands.plan import render_table
from stacks.profile import Target
from stacks.targets import TARGETS
from stacks.workloads import load_all
from tests.conftest import FIXTURES

GPU = "image-tagging"  # 40 % sustained, GPU, async: every target planned, Lambda's two ruled out by gpu
CPU = "steady-scoring"  # steady CPU, mode both, on a platform without a cluster


def gpu_profiles(dest: Path) -> Path:
    profiles = dest / "gpu"
    shutil.copytree(FIXTURES / "hybrid", profiles)
    path = profiles / f"{GPU}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("\ntarget: hybrid\n", "\ntarget: auto\n"))
    return profiles


def cpu_profiles(dest: Path) -> Path:
    profiles = dest / "cpu"
    shutil.copytree(FIXTURES / "steady_cpu", profiles)
    path = profiles / f"{CPU}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("\ntarget: managed-instances\n", "\ntarget: auto\n"))
    platform = profiles / "platform.yaml"
    platform.write_text(platform.read_text(encoding="utf-8") + "  targets: [serverless, managed-instances]\n")
    return profiles


@pytest.fixture
def batches(tmp_path):
    out = {}
    for name, make in ((GPU, gpu_profiles), (CPU, cpu_profiles)):
        batch = load_all([make(tmp_path)])
        assert not batch.failures, [str(f.error) for f in batch.failures]
        out[name] = batch
    return out


def table_row(text: str, name: str) -> dict[str, str]:
    """The summary row of one workload: each column's bill with the mark printed under it."""
    header, *lines = text.split("\n\n")[0].splitlines()
    starts = [m.start() for m in re.finditer(r"\S+", header)]
    i = next(i for i, line in enumerate(lines) if line.startswith(name + " "))
    bills, marks = lines[i], lines[i + 1]
    cells = {}
    for start, end in zip(starts, [*starts[1:], None], strict=True):
        column = header[start:end].strip()
        cells[column] = " ".join(part for part in (bills[start:end].strip(), marks[start:end].strip()) if part)
    assert lines[i + 2].startswith("  why: "), lines[i + 2]
    return cells


def cell(row: dict[str, str], target: Target) -> str:
    return row[f"{target.value.upper()}/MO"]


def test_the_table_marks_the_chosen_the_infeasible_and_the_not_offered(batches):
    (w,) = batches[GPU].workloads
    d = w.decision
    assert d.target is Target.kubernetes
    row = table_row(render_table(batches[GPU]), GPU)
    for t, o in d.options.items():
        assert cell(row, t).startswith(f"${o.bill.total:,.2f}")  # every bill stays visible
    assert cell(row, Target.kubernetes).endswith(" chosen")
    # The lowest bill of the four, and it cannot run a GPU model: marked, never a bare figure.
    lmi = d.option(Target.managed_instances)
    assert lmi.bill.total == min(o.bill.total for o in d.options.values())
    assert cell(row, Target.managed_instances).endswith(" not feasible")
    assert cell(row, Target.serverless).endswith(" not feasible")
    assert cell(row, Target.hybrid) == f"${d.option(Target.hybrid).bill.total:,.2f}"  # feasible, not chosen

    (w,) = batches[CPU].workloads
    d = w.decision
    row = table_row(render_table(batches[CPU]), CPU)
    assert d.target is Target.managed_instances and cell(row, Target.managed_instances).endswith(" chosen")
    k8s = d.option(Target.kubernetes)
    assert k8s.feasible is False and k8s.bill.total < d.chosen.bill.total  # cheaper, but not on this platform
    assert cell(row, Target.kubernetes) == f"${k8s.bill.total:,.2f} not offered"
    # not offered first: whether it could run the workload does not matter on this platform
    assert cell(row, Target.hybrid).endswith(" not offered")


def test_each_workload_section_says_why_an_option_is_out(batches):
    (w,) = batches[GPU].workloads
    d = w.decision
    text = render_table(batches[GPU])
    cost = next(line for line in text.splitlines() if line.startswith("  cost:"))
    assert f"kubernetes ${d.chosen.bill.total:,.2f}/month (chosen)" in cost
    lmi = d.option(Target.managed_instances)
    assert f"managed-instances ${lmi.bill.total:,.2f}/month ({lmi.variant}; not feasible: limit.gpu)" in cost
    assert f"hybrid ${d.option(Target.hybrid).bill.total:,.2f}/month," in cost + ","  # feasible: no mark
    heading = next(line for line in text.splitlines() if line.startswith("  bill, managed-instances"))
    # the first blocker's verdict, cut short: the whole sentence is under `rules:`
    verdict = heading.split("/month (not feasible: limit.gpu: ", 1)[1].removesuffix(")")
    assert lmi.blockers[0].detail.startswith(verdict) and "Lambda Managed Instances" in verdict, heading
    assert next(line for line in text.splitlines() if line.startswith("  bill, kubernetes")).endswith("(chosen)")

    text = render_table(batches[CPU])
    cost = next(line for line in text.splitlines() if line.startswith("  cost:"))
    assert cost.count("(not offered by platform.targets)") == 2
    for t in (Target.kubernetes, Target.hybrid):
        heading = next(line for line in text.splitlines() if line.startswith(f"  bill, {t.value}"))
        assert heading.endswith("/month (not offered by platform.targets)"), heading


def test_the_marks_wrap_to_the_terminal_and_agree_with_the_json(tmp_path, capsys):
    profiles = gpu_profiles(tmp_path)
    assert plan.run([profiles], as_json=False, width=80) == 0
    text = capsys.readouterr().out
    long = [line for line in text.splitlines() if len(line) > 80 and " " in line.strip()]
    assert not long, long
    assert "not feasible: limit.gpu" in text
    assert plan.run([profiles], as_json=True) == 0
    (doc,) = json.loads(capsys.readouterr().out)["workloads"]
    row = table_row(plan.render_table(load_all([profiles])), GPU)
    for t in TARGETS:
        option, mark = doc["options"][t.target.value], cell(row, t.target)
        chosen = doc["target"] == t.target.value
        assert mark.endswith(" chosen") is chosen
        assert ("not offered" in mark) is (not option["offered"])
        assert ("not feasible" in mark) is (option["offered"] and not option["feasible"])
        if "not feasible" in mark:  # the section names the first blocker the JSON lists
            assert f"(not feasible: {option['blockers'][0]}" in text


def test_the_cost_comparison_never_calls_a_ruled_out_option_the_cheaper(batches):
    for name, best, lower, why in (
        (GPU, Target.kubernetes, Target.managed_instances, "is not feasible"),
        (CPU, Target.managed_instances, Target.kubernetes, "is not offered by the platform"),
    ):
        (w,) = batches[name].workloads
        compare = next(r for r in w.decision.reasons if r.rule == "cost.compare").detail
        assert f": {lower.value} is cheaper" not in compare, compare
        lmi = w.decision.option(Target.managed_instances)
        if not lmi.feasible:
            assert f"managed-instances ${lmi.bill.total:,.2f}/month ({lmi.variant}; not feasible)" in compare
        assert compare.endswith(f": {best.value} is the cheapest feasible ({lower.value} bills less but {why})")
