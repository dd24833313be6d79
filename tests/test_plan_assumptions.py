"""`switchyard plan` names the figures it assumes, folds long lines in a terminal only, and keeps
`--json` complete."""

from __future__ import annotations

import io
import json
import os

import pytest

from stacks.cli import main
from stacks.commands import wrap as wrap_module
from stacks.commands.wrap import output_width, wrap
from tests.conftest import PROFILES, copy_profiles

BAKED_ASYNC = {
    "nightly-embeddings": (
        "  weights: s3://acme-models/embeddings/v7/\n  weights_gb: 1.2",
        "  weights: models/sentiment/weights/\n  weights_gb: 0.4",
    )
}


def plan_json(capsys, *paths) -> dict:
    assert main(["plan", "--json", *map(str, paths)]) == 0
    return {w["name"]: w for w in json.loads(capsys.readouterr().out)["workloads"]}


def by_name(workload: dict) -> dict[str, dict]:
    return {a["name"]: a for a in workload["assumptions"]}


def test_json_names_vllm_concurrency_and_the_efs_bound_on_queue_consumers(capsys):
    plan = plan_json(capsys, PROFILES)
    vllm = by_name(plan["llm-chat"])["kubernetes.replica_concurrency"]
    assert vllm["value"] == 32 == plan["llm-chat"]["sizing"]["kubernetes"]["replica_concurrency"]
    assert vllm["setting"] == "platform.replica_concurrency_vllm"
    queue = by_name(plan["nightly-embeddings"])["serverless.queue_max_concurrency"]
    assert queue["value"] == 15 == plan["nightly-embeddings"]["sizing"]["serverless"]["queue_max_concurrency"]
    assert "3,000 MB/s / 200 MB/s per cold start = 15" in queue["detail"]
    assert "EFS" in queue["detail"].split("bound by")[1]
    # A sync workload has no queue, so no queue assumption.
    assert "serverless.queue_max_concurrency" not in by_name(plan["sentiment-api"])


def test_weights_baked_into_the_image_lift_the_efs_cap_on_queue_consumers(tmp_path, capsys):
    profiles = copy_profiles(tmp_path, edit=BAKED_ASYNC)
    w = plan_json(capsys, profiles)["nightly-embeddings"]
    sizing = w["sizing"]["serverless"]
    assert sizing["weights_in_image"] is True
    # Bound by the reservation now, not by a file system the function no longer reads.
    assert sizing["queue_max_concurrency"] == sizing["reserved_concurrency"] == 40
    queue = by_name(w)["serverless.queue_max_concurrency"]
    assert "no EFS bound: the weights are in the image" in queue["detail"]
    assert "bound by the reservation" in queue["detail"]


def test_a_platform_setting_changes_the_assumption_and_the_sizing_together(tmp_path, capsys):
    profiles = copy_profiles(tmp_path)
    (profiles / "platform.yaml").write_text("platform:\n  replica_concurrency_vllm: 8\n", encoding="utf-8")
    w = plan_json(capsys, profiles)["llm-chat"]
    assert by_name(w)["kubernetes.replica_concurrency"]["value"] == 8
    assert "serves 8 requests at once" in by_name(w)["kubernetes.replica_concurrency"]["detail"]


def test_text_report_wraps_at_the_given_width_and_lists_assumptions(capsys):
    assert main(["plan", "--width", "100", str(PROFILES)]) == 0
    text = capsys.readouterr().out
    # Only a word longer than the width (the profile's path, as long as the checkout's) may overflow.
    assert all(len(line) <= 100 or len(line.split()) == 1 for line in text.splitlines())
    assert sum(len(line) > 100 for line in text.splitlines()) <= 4
    assert "  assumptions:" in text
    assert "one vLLM replica serves 32 requests at once" in " ".join(text.split())
    # A continuation sits under the rule's detail column, not at the margin.
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("    - traffic.utilization"))
    detail_column = lines[first].index("sustained")
    assert lines[first + 1].startswith(" " * detail_column) and lines[first + 1][detail_column] != " "


def test_piped_output_is_never_wrapped_and_width_0_turns_wrapping_off(capsys):
    assert main(["plan", str(PROFILES)]) == 0  # capsys is not a terminal
    piped = capsys.readouterr().out
    assert max(len(line) for line in piped.splitlines()) > 150
    assert main(["plan", "--width", "0", str(PROFILES)]) == 0
    assert capsys.readouterr().out == piped
    # Wrapping only moves line breaks: the words are the same.
    assert main(["plan", "--width", "80", str(PROFILES)]) == 0
    assert capsys.readouterr().out.split() == piped.split()


def test_a_terminal_is_wrapped_at_its_width_or_100(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "120")
    assert output_width(None, Tty()) == 120
    # A terminal that reports no size (a serial console, some CI log viewers): 100.
    monkeypatch.setattr(wrap_module.shutil, "get_terminal_size", lambda fallback: os.terminal_size(fallback))
    assert output_width(None, Tty()) == 100
    assert output_width(None, io.StringIO()) is None
    assert output_width(0, Tty()) is None
    assert output_width(90, io.StringIO()) == 90


def test_a_width_too_narrow_to_read_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["plan", "--width", "12", str(PROFILES)])
    assert exc.value.code == 64
    assert "too narrow" in capsys.readouterr().err


def test_a_long_word_is_never_split():
    url = "https://example.com/" + "x" * 120
    assert url in wrap(f"  hint: see {url} for more", 60).split()


def test_a_terminal_narrower_than_readable_is_wrapped_at_the_narrowest_readable_width(monkeypatch):
    """A 5-column terminal (a split pane, a phone's SSH client) gets 40-column lines, not a word per line:
    the same floor the --width flag enforces."""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setenv("COLUMNS", "5")
    assert output_width(None, Tty()) == 40
    report = "fraud-scoring       kubernetes  $837.42        $585.98        Lambda ruled out by memory"
    assert wrap(report, output_width(None, Tty())).splitlines()[0].split()[:2] == ["fraud-scoring", "kubernetes"]
