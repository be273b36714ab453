"""The benchmark's pure parts: statistics, fitting, targets, report rendering, arguments.

No lab: the runner itself is run by CI as ``make bench-quick``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from _root import ROOT

# bench/ is a directory of the checkout (run as `python -m bench`), not an installed package.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import config, report
from bench.parts import rotate
from bench.stats import Target, fit_line, med, median, per_extra, ratio, select


def test_median_ratio_and_per_extra() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 10.0]) == 2.5
    assert median([]) is None
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(None, 2.0) is None and ratio(1.0, 0.0) is None
    assert per_extra((1, 2.0), (33, 6.0)) == pytest.approx(0.125)
    assert per_extra((1, None), (33, 6.0)) is None
    assert per_extra((4, 1.0), (4, 2.0)) is None


def test_fit_line_recovers_slope_and_intercept() -> None:
    xs = [1, 2, 4, 8, 16, 1, 2, 4, 8, 16]
    ys = [2.0 + 0.25 * x + (0.01 if i % 2 else -0.01) for i, x in enumerate(xs)]
    line = fit_line(xs, ys)
    assert line is not None
    assert line.slope == pytest.approx(0.25, abs=0.002)
    assert line.intercept == pytest.approx(2.0, abs=0.02)
    assert line.points == 10
    assert line.r2 is not None and line.r2 > 0.99
    assert line.at(10) == pytest.approx(4.5, abs=0.03)


def test_fit_line_needs_two_distinct_xs_and_equal_lengths() -> None:
    assert fit_line([4, 4, 4], [1.0, 2.0, 3.0]) is None
    with pytest.raises(ValueError, match="3 xs but 2 ys"):
        fit_line([1, 2, 3], [1.0, 2.0])


def test_select_and_med_filter_on_every_key() -> None:
    samples = [
        {"side": "a", "phase": "first", "seconds": 1.0},
        {"side": "a", "phase": "first", "seconds": 3.0},
        {"side": "a", "phase": "noop", "seconds": 9.0},
        {"side": "b", "phase": "first", "seconds": 5.0},
    ]
    assert select(samples, side="a", phase="first") == [1.0, 3.0]
    assert med(samples, side="a", phase="first") == 2.0
    assert med(samples, side="c") is None


def test_target_verdict_and_margin() -> None:
    under = Target("t", 1.2, "<=", 1.5, "x")
    assert under.met is True and "under by 0.3x" in under.margin
    over = Target("t", 3.0, "<=", 1.5, "x")
    assert over.met is False and "2.00x of the limit, over by 1.5x" in over.margin
    short = Target("t", 4.0, ">=", 6.0, "x")
    assert short.met is False and "short by 2x" in short.margin
    assert Target("t", None, "<=", 1.0).met is None
    assert Target("t", None, "<=", 1.0).margin == "not measured"


def test_rotate_changes_who_goes_first() -> None:
    assert rotate(("a", "b", "c"), 0) == ["a", "b", "c"]
    assert rotate(("a", "b", "c"), 1) == ["b", "c", "a"]
    assert rotate(("a", "b", "c"), 5) == ["c", "a", "b"]
    assert rotate((), 3) == []


def test_parse_full_defaults_match_the_issue_matrix() -> None:
    cfg = config.parse([])
    assert cfg.mode == "full" and cfg.lab == "bench"
    assert cfg.instances == (1, 8, 32) and cfg.hosts == (1, 3)
    assert cfg.scale_instances == (1, 2, 4, 8, 16, 32, 64) and cfg.scale_hosts == (1, 2, 3, 4)
    assert set(cfg.parts) == set(config.PARTS) and cfg.parts == config.RUN_ORDER
    assert cfg.max_minutes == 0
    assert cfg.lab_hosts == 4
    assert cfg.reps >= 2


def test_parse_quick_is_small_and_needs_fewer_hosts() -> None:
    cfg = config.parse(["--quick", "--lab", "ci1", "--parts", "multi,lambda", "--note", "shared CPU"])
    assert cfg.mode == "quick" and cfg.lab == "ci1"
    assert max(cfg.instances) <= 8 and cfg.hosts == (1,) and cfg.api_reps == 1
    assert cfg.scale_instances == (1, 2, 4)
    assert cfg.parts == ("lambda", "multi")  # run order: short parts first
    assert cfg.note == "shared CPU"
    assert cfg.bake_reps == 0 and cfg.hit_reps >= 1
    assert config.parse(["--quick", "--parts", "lambda"]).lab_hosts == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--parts", "multi,speed"], "--parts: speed is not a part"),
        (["--reps", "0"], "--reps: 0 is out of range"),
        (["--max-minutes", "-1"], "--max-minutes: -1.0 is negative"),
        (["--bogus"], "unrecognized arguments"),
    ],
)
def test_parse_refuses_bad_input_with_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        config.parse(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def _results(mode: str = "full") -> dict:
    cfg = config.parse(["--quick"] if mode == "quick" else [])
    samples = []
    secs = {
        "shipyard": {"first": (3.0, 4.0), "noop": (2.0, 2.2), "upgrade": (4.0, 8.0)},
        "baseline": {"first": (5.0, 40.0), "noop": (4.0, 30.0), "upgrade": (5.0, 60.0)},
        "floor": {"first": (1.0, 1.7), "noop": (0.5, 0.75), "upgrade": (1.0, 2.0)},
    }
    lo, hi = min(cfg.instances), max(cfg.instances)
    for side, phases in secs.items():
        for phase, (small, big) in phases.items():
            for h in cfg.hosts:
                for n in cfg.instances:
                    t = small if n == lo else big if n == hi else (small + big) / 2
                    for rep, jitter in enumerate((0.0, 0.1, -0.1)):
                        samples.append(
                            {"part": "multi", "side": side, "phase": phase, "instances": n, "hosts": h,
                             "rep": rep, "seconds": t + jitter}
                        )  # fmt: skip
    samples += [
        {
            "part": "api",
            "side": "api",
            "phase": "noop",
            "instances": 8,
            "hosts": 1,
            "rep": 0,
            "seconds": 10.3,
        },
        {
            "part": "api",
            "side": "bare",
            "phase": "noop",
            "instances": 8,
            "hosts": 1,
            "rep": 0,
            "seconds": 10.0,
        },
        {"part": "bake", "side": "cli", "phase": "hit", "rep": 0, "seconds": 1.1},
        {"part": "bake", "side": "api", "phase": "hit", "rep": 0, "seconds": 0.4},
        {"part": "bake", "side": "shipyard", "phase": "first", "rep": -1, "seconds": 30.0},
        {"part": "lambda", "side": "cold", "phase": "package", "rep": 0, "seconds": 3.0},
        {"part": "lambda", "side": "warm", "phase": "package", "rep": 0, "seconds": 0.5},
    ]
    for n in cfg.scale_instances:
        samples.append({"part": "scaling", "side": "shipyard", "phase": "first", "instances": n, "hosts": 1,
                        "rep": 0, "seconds": 3.0 + 0.03 * n})  # fmt: skip
    return {
        "meta": {"date": "2026-11-25 08:00", "nproc": 2, "kernel": "6.1.0", "load_start": "1.00 1.00 1.00",
                 "load_end": "2.00 2.00 2.00", "commit": "abc1234", "dirty": False, "ansible": "2.19.0",
                 "python": "3.11.2", "packer": "Packer v1.6.6", "duration_s": 600.0, "note": "CPU shared"},
        "config": {"mode": cfg.mode, "reps": 3, "instances": list(cfg.instances), "hosts": list(cfg.hosts),
                   "scale_instances": list(cfg.scale_instances), "scale_hosts": list(cfg.scale_hosts),
                   "scale_hosts_instances": cfg.scale_hosts_instances, "parts": list(cfg.parts)},
        "samples": samples,
        "profiles": {"shipyard/noop": {"instances": hi, "hosts": 1, "total": 9.0, "tasks": [
            {"task": "Run systemd-analyze verify on it", "action": "command", "kind": "task", "seconds": 0.9},
            {"task": "Write the unit", "action": "template", "kind": "task", "seconds": 0.5}]}},
        "lambda": {"requirements": "requests", "files": 120, "zip_bytes": 900_000, "unzipped_bytes": 2_400_000,
                   "naive_zip_bytes": 1_000_000, "naive_zip_seconds": 0.2, "reproducible": True},
        "errors": [{"part": "bake", "error": "OperationError: moto went away"}],
    }  # fmt: skip


def test_targets_are_evaluated_at_the_largest_cell() -> None:
    ts = {t.name: t for t in report.targets(_results())}
    first1 = ts["multi first deploy, 32 inst/host, 1 host(s): shipyard / floor"]
    assert first1.value == pytest.approx(4.0 / 1.7) and first1.met is False
    noop3 = ts["multi no-op rerun, 32 inst/host, 3 host(s): shipyard / floor"]
    assert noop3.value == pytest.approx(2.2 / 0.75)
    extra = ts["multi first deploy, s per extra instance (1→32), 1 host(s)"]
    assert extra.value == pytest.approx(1.0 / 31) and extra.met is True
    upgrade = ts["rolling upgrade, 32 inst/host, 1 host(s): baseline / shipyard"]
    assert upgrade.value == pytest.approx(7.5) and upgrade.met is True
    api = ts["API overhead (shipyard.api vs bare ansible-playbook, no-op)"]
    assert api.value == pytest.approx(3.0) and api.met is True
    assert ts["bake cache hit (`shipyard bake` CLI, a new process)"].met is True
    assert all(t.note == "" for t in ts.values())


def test_quick_targets_say_they_are_not_at_32() -> None:
    ts = report.targets(_results("quick"))
    assert any("quick mode: at 4 instances/host, not 32" in t.note for t in ts)


def test_render_has_metadata_tables_verdicts_plots_and_errors() -> None:
    text = report.render(_results(), ["multi.png", "scaling.png"])
    assert text.startswith("# shipyard benchmark results\n")
    for needle in (
        "| date (UTC) | 2026-11-25 08:00 |",
        "2 CPUs, kernel 6.1.0",
        "`abc1234`",
        "| mode | full (3 repetition(s) per cell, sides interleaved) |",
        "> CPU shared",
        "**missed**",
        "**met**",
        "| 1 | 32 | upgrade 1.0.0 → 2.0.0 | 8.00 | 60.00 | 2.00 | 7.5x | 4.0x |",
        "Run systemd-analyze verify on it 0.90",
        "| 10.30 | 10.00 | 3.0 % (0.30 s) | 1 |",
        "| 900,000 | 1,000,000 | 0.900x | 120 | yes (same sha256 twice) |",
        "s per instance",
        "![multi.png](multi.png)",
        "- **bake**: OperationError: moto went away",
    ):
        assert needle in text, needle


def test_render_without_a_part_leaves_its_section_out() -> None:
    res = _results()
    res["samples"] = [s for s in res["samples"] if s["part"] != "lambda"]
    res["lambda"] = {}
    text = report.render(res, [])
    assert "## 4. lambda" not in text and "## Plots" not in text
    assert "## 1. multi" in text


def test_failure_lines_pick_what_failed_from_ansible_output() -> None:
    from bench.harness import failure_lines

    out = "PLAY [x]\nTASK [a]\nok: [h1]\nTASK [b]\nfatal: [h1]: FAILED! => \n  msg: boom\n  rc: 1\n\nPLAY RECAP\n"
    assert failure_lines(out).splitlines()[:2] == ["fatal: [h1]: FAILED! => ", "  msg: boom"]
    assert failure_lines("a\nb\n", limit=3) == "\nb\n"


def test_retries_are_listed() -> None:
    res = _results()
    res["retries"] = [{"what": "multi 1h x 8 shipyard", "error": "deploy.yml failed\nfatal: host gone"}]
    assert "- multi 1h x 8 shipyard: fatal: host gone" in report.render(res, [])


def test_explain_splits_the_module_call_from_the_per_task_overhead() -> None:
    res = _results()
    res["profiles"]["shipyard/upgrade"] = {"instances": 32, "hosts": 1, "total": 20.0, "tasks": [
        {"task": "Start, stop and rolling-restart", "action": "shipyard.deploy.service_instances", "seconds": 9.6},
        {"task": "Write the unit", "action": "ansible.builtin.template", "seconds": 0.5},
        {"task": "Read the manifest", "action": "ansible.builtin.slurp", "seconds": 0.5}]}  # fmt: skip
    split = report.profile_split(res["profiles"]["shipyard/upgrade"])
    assert split["module"] == pytest.approx(9.6) and split["other_tasks"] == 2
    assert split["per_task"] == pytest.approx(0.5) and split["startup"] == pytest.approx(9.4)
    text = "\n".join(report.explain(res))
    assert "the `service_instances` call 9.60 s + 2 other tasks 1.00 s" in text
    assert "the rolling restart costs 0.300 s per instance" in text
    assert "Where the time goes (from the task profile, section 1):" in report.render(res, [])


def test_skipped_cells_and_interruption_are_stated() -> None:
    res = _results()
    res["config"]["max_minutes"] = 30
    res["skipped"] = ["multi rep 2: 3 host(s) x 32 instances"]
    res["meta"]["interrupted"] = True
    text = report.render(res, [])
    assert "`--max-minutes 30`) spent: 1 cell(s) were not run: multi rep 2: 3 host(s) x 32 instances." in text
    assert "**Interrupted**" in text


def test_render_only_is_parsed() -> None:
    assert config.parse(["--render-only"]).render_only is True
    assert config.parse([]).render_only is False


def test_default_out_is_the_bench_dir() -> None:
    assert config.parse([]).out == Path(config.__file__).resolve().parent


@pytest.mark.parametrize("quick", [[], ["--quick"]])
def test_relative_out_and_work_become_absolute(
    quick: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The bare ansible-playbook side runs in the collection dir: a relative inventory broke it.
    monkeypatch.chdir(tmp_path)
    cfg = config.parse([*quick, "--out", "o", "--work", "w/x"])
    assert cfg.out == tmp_path / "o"
    assert cfg.work == tmp_path / "w" / "x"
