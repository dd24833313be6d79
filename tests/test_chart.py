"""`switchyard plan --chart DIR`: one image per workload, its break-even where the decision flips."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from stacks.chart import at_hours, at_rps, draw, headline, hours_series, rps_series
from stacks.commands.plan import run
from stacks.decision.workload import Workload
from stacks.errors import DecisionError, SwitchyardError
from stacks.profile import Target
from stacks.profile.loader import LoadedProfile, load_profile
from stacks.targets import decide
from tests.conftest import FIXTURES
from tests.test_cost import MODEL, SENTIMENT

# One worker: a chart's points are decisions (Lambda's simulated), computed once per process and profile.
# matplotlib is looked for, not imported: only the worker that draws pays its import.
pytestmark = [
    pytest.mark.xdist_group("chart"),
    pytest.mark.skipif(
        importlib.util.find_spec("matplotlib") is None,
        reason="the chart extra: pip install 'switchyard-iac[chart]' (in dev)",
    ),
]


@pytest.fixture
def profiles(tmp_path):
    d = tmp_path / "profiles"
    d.mkdir()
    (d / "model.py").write_text(MODEL, encoding="utf-8")
    (d / "weights").mkdir()
    (d / "weights" / "w.bin").write_bytes(b"0")
    (d / "sentiment-api.yaml").write_text(SENTIMENT, encoding="utf-8")
    return d


def _decide_at(profiles, avg_rps: float):
    text = SENTIMENT.replace("avg_rps: 2,", f"avg_rps: {avg_rps!r},")
    path = profiles / "probe.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        return decide(load_profile(path))
    finally:
        path.unlink()


def test_plan_chart_writes_one_image_per_workload(profiles, tmp_path, capsys):
    out = tmp_path / "charts"
    assert run([profiles], as_json=False, chart_dir=out) == 0
    assert sorted(p.name for p in out.iterdir()) == ["sentiment-api.png"]
    from PIL import Image  # matplotlib's dependency

    with Image.open(out / "sentiment-api.png") as image:
        assert image.format == "PNG" and image.size == (1320, 528)
    assert f"wrote {out / 'sentiment-api.png'}" in capsys.readouterr().err


def test_the_marked_break_even_is_where_the_decision_flips(profiles):
    w = decide(load_profile(profiles / "sentiment-api.yaml"))
    series = rps_series(w)
    assert series.at == 2 and series.xs[-1] == 40  # from idle to the peak held
    [(edge, cost)] = series.break_even
    assert 2 < edge < 40
    below, above = _decide_at(profiles, edge - 0.05), _decide_at(profiles, edge + 0.05)
    assert (below.target, above.target) == (Target.serverless, Target.kubernetes)
    assert cost == pytest.approx(
        max(above.decision.option(Target.serverless).bill.total, above.decision.option(Target.kubernetes).bill.total),
        rel=0.05,
    )
    # at 2 rps Kubernetes' bill is met only near a whole day: with the floor its simulated bursts need,
    # serverless held for ~24 h a day costs more (the decision flips there too)
    [(hours, _)] = hours_series(w).break_even
    assert 20 < hours < 24
    loaded = load_profile(profiles / "sentiment-api.yaml")
    short, long = (
        decide(replace(loaded, profile=w.profile.model_copy(update={"utilization": at_hours(w, h)})))
        for h in (hours - 0.05, hours + 0.05)
    )
    assert (short.target, long.target) == (Target.serverless, Target.kubernetes)


def test_svg_too(profiles, tmp_path):
    w = decide(load_profile(profiles / "sentiment-api.yaml"))
    path = draw(w, tmp_path, "svg")
    assert path.name == "sentiment-api.svg" and path.read_text(encoding="utf-8").startswith("<?xml")


def test_without_matplotlib_the_error_says_how_to_get_it(profiles, tmp_path, monkeypatch):
    w = decide(load_profile(profiles / "sentiment-api.yaml"))
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    with pytest.raises(SwitchyardError, match=r"pip install 'switchyard-iac\[chart\]'"):
        draw(w, tmp_path / "charts")
    assert not (tmp_path / "charts").exists()


def test_a_file_in_the_way_is_a_clear_error(profiles, tmp_path):
    from tests.cli_helpers import switchyard
    from tests.conftest import ROOT

    (tmp_path / "charts").write_text("not a directory", encoding="utf-8")
    r = switchyard("plan", str(profiles), "--chart", str(tmp_path / "charts"), cwd=ROOT)
    assert r.returncode == 1
    assert f"error: --chart {tmp_path / 'charts'}: exists and is not a directory" in r.stderr
    assert "Traceback" not in r.stderr


# ------------------------------------------------------------------ where each target wins


def _auto(dest: Path, fixture: str, name: str, old: str, platform_extra: str = "") -> Workload:
    profiles = dest / fixture
    shutil.copytree(FIXTURES / fixture, profiles)
    path = profiles / f"{name}.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace(f"\ntarget: {old}\n", "\ntarget: auto\n"))
    (profiles / "platform.yaml").write_text(
        (profiles / "platform.yaml").read_text(encoding="utf-8") + platform_extra, encoding="utf-8"
    )
    return decide(load_profile(path))


def _chosen_at(w: Workload, u) -> Target | None:
    loaded = load_profile(w.file)
    try:
        return decide(LoadedProfile(loaded.profile.model_copy(update={"utilization": u}), w.file, w.settings)).target
    except DecisionError:
        return None


def _check_regions(w: Workload, never: set[Target]) -> None:
    for series, at in ((rps_series(w), at_rps), (hours_series(w), at_hours)):
        assert len(series.winners) == len(series.xs)
        assert never.isdisjoint(series.winners), series.winners
        assert never.isdisjoint(t for _, _, t in series.regions)
        # The regions tile the range, in order, and each one's winner holds inside it.
        assert series.regions[0][0] == 0 and series.regions[-1][1] == series.xs[-1]
        assert all(a[1] == b[0] for a, b in zip(series.regions, series.regions[1:], strict=False))
        # Each region's target is what `auto` chooses at that traffic, by the decision itself.
        for lo, hi, target in series.regions:
            mid = (lo + hi) / 2
            assert _chosen_at(w, at(w, mid)) is target, (series.label, lo, hi, target)
        assert not any(t.value in headline(series).split(": ", 1)[-1] for t in never), headline(series)


def test_a_target_that_cannot_run_the_workload_never_wins_a_region(tmp_path):
    w = _auto(tmp_path, "hybrid", "image-tagging", "hybrid")
    lmi = w.decision.option(Target.managed_instances)
    # Managed instances bill the least (CPU instances for a GPU model) and are ruled out by gpu.
    assert not lmi.feasible and lmi.bill.total == min(o.bill.total for o in w.decision.options.values())
    assert any(min(c, key=c.get) is Target.managed_instances for c in _bills(rps_series(w)))
    _check_regions(w, never={Target.managed_instances, Target.serverless})


def test_a_target_the_platform_does_not_offer_never_wins_a_region(tmp_path, profiles):
    no_cluster = "  targets: [serverless, managed-instances]\n"
    w = _auto(tmp_path, "steady_cpu", "steady-scoring", "managed-instances", no_cluster)
    assert w.target is Target.managed_instances
    # A Kubernetes CPU share is the cheapest bill at the profile's traffic: the platform has no cluster.
    k8s = w.decision.option(Target.kubernetes)
    assert k8s.not_offered and k8s.bill.total < w.decision.chosen.bill.total
    # The chart of a workload whose range Kubernetes' bill leads for the upper part (the sentiment
    # API's: serverless below its break-even, Kubernetes above), on a platform without a cluster.
    # (The steady scorer's chart holds a 200 rps burst at each of its points, each simulated for
    # Lambda's floor: the same check on it costs ~10 s of CPU.)
    (profiles / "platform.yaml").write_text("platform:\n" + no_cluster, encoding="utf-8")
    w = decide(load_profile(profiles / "sentiment-api.yaml"))
    assert w.decision.option(Target.kubernetes).not_offered
    assert any(min(c, key=c.get) is Target.kubernetes for c in _bills(rps_series(w)))
    _check_regions(w, never={Target.kubernetes, Target.hybrid})


def _bills(series) -> list[dict[Target, float]]:
    return [{t: c[i] for t, c in series.costs.items()} for i in range(len(series.xs))]
