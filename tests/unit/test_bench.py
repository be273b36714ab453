"""The benchmark's pure parts: statistics, fitting, targets, report rendering, arguments.

No lab: the runner itself is run by CI as ``make bench-quick``.
"""

from __future__ import annotations

import json
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
    assert max(cfg.instances) <= 8 and cfg.hosts == (1, 3) and cfg.api_reps == 1
    assert set(config.SIDES) == {"shipyard", "cli", "baseline", "floor", "ansible_floor"}
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
        "cli": {"first": (3.5, 4.5), "noop": (2.4, 3.4), "upgrade": (4.5, 8.5)},
        # at 1 instance the baseline's no-op beats shipyard's (0.9x): that target is missed
        "baseline": {"first": (5.0, 40.0), "noop": (1.8, 30.0), "upgrade": (5.0, 60.0)},
        "floor": {"first": (1.0, 1.7), "noop": (0.5, 0.75), "upgrade": (1.0, 2.0)},
        "ansible_floor": {"first": (2.0, 2.5), "noop": (1.5, 1.6), "upgrade": (2.0, 3.0)},
    }
    lo, hi = min(cfg.instances), max(cfg.instances)

    def calls(side: str, phase: str, n: int, h: int) -> dict:
        if side in ("shipyard", "cli"):
            one = {"remote": 1, "module": 1} if phase == "noop" else {"remote": 5, "module": 2, "copies": 1}
        elif side == "baseline":
            one = {"remote": 4 + 3 * n, "tasks": 4 + 3 * n}
        else:
            one = {"remote": 1}
        return {f"h{i}": dict(one) for i in range(1, h + 1)}

    for side, phases in secs.items():
        for phase, (small, big) in phases.items():
            for h in cfg.hosts:
                for n in cfg.instances:
                    t = small if n == lo else big if n == hi else (small + big) / 2
                    for rep, jitter in enumerate((0.0, 0.1, -0.1)):
                        samples.append(
                            {"part": "multi", "side": side, "phase": phase, "instances": n, "hosts": h,
                             "rep": rep, "seconds": t + jitter, "calls": calls(side, phase, n, h)}
                        )  # fmt: skip
    samples += [
        {
            "part": "api",
            "side": "api",
            "phase": "noop",
            "instances": 8,
            "hosts": 1,
            "rep": 0,
            "seconds": 10.2,
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
        {
            "part": "api",
            "side": "cli",
            "phase": "noop",
            "instances": 8,
            "hosts": 1,
            "rep": 0,
            "seconds": 10.5,
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


def test_issue16_targets_against_the_ansible_floor() -> None:
    ts = {t.name: t for t in report.targets(_results())}
    noop = ts["no-op, 32 inst/host, 3 host(s): shipyard (ansible-playbook) / Ansible floor"]
    assert noop.value == pytest.approx(2.2 / 1.6) and noop.met is True and noop.limit == 1.5
    assert noop.source == "16"
    cli_noop = ts["no-op, 1 inst/host, 1 host(s): CLI / Ansible floor"]
    assert cli_noop.value == pytest.approx(2.4 / 1.5) and cli_noop.met is True and cli_noop.limit == 2.0
    cli_noop32 = ts["no-op, 32 inst/host, 1 host(s): CLI / Ansible floor"]
    assert cli_noop32.value == pytest.approx(3.4 / 1.6) and cli_noop32.met is False
    assert cli_noop32.verdict == "missed by 0.125x"
    first = ts["first deploy, 32 inst/host, 1 host(s): CLI / Ansible floor"]
    assert first.value == pytest.approx(4.5 / 2.5) and first.met is True
    upgrade = ts["upgrade, 32 inst/host, 1 host(s): shipyard over the Ansible floor's upgrade, per instance"]
    assert upgrade.value == pytest.approx((8.0 - 3.0) / 32) and upgrade.met is True
    # at 1 instance/host: faster than the plain role in every phase (strictly)
    faster = ts["no-op rerun, 1 inst/host, 3 host(s): baseline / shipyard (faster than the plain role)"]
    assert faster.value == pytest.approx(0.9) and faster.op == ">" and faster.met is False
    assert faster.verdict == "missed by 0.1x"
    assert ts["first deploy, 1 inst/host, 1 host(s): baseline / shipyard (faster than the plain role)"].met
    calls = ts["no-op: remote calls per host, shipyard (most over every cell, host, rep)"]
    assert calls.value == 1 and calls.met is True
    api = ts["`shipyard.api.deploy` overhead over bare ansible-playbook (no-op, 8 inst, 1 host)"]
    assert api.value == pytest.approx(0.2) and api.met is True
    cli = ts["`shipyard deploy` (CLI) overhead over bare ansible-playbook (no-op, 8 inst, 1 host)"]
    assert cli.value == pytest.approx(0.5) and cli.met is False and cli.verdict == "missed by 0.2 s"
    assert all(t.note == "" for t in ts.values())


def test_issue8_targets_the_new_floor_did_not_replace_are_kept() -> None:
    ts = {t.name: t for t in report.targets(_results())}
    extra = ts["first deploy, s per extra instance (1→32), 1 host(s)"]
    assert extra.value == pytest.approx(1.0 / 31) and extra.met is True and extra.source == "8"
    upgrade = ts["rolling upgrade, 32 inst/host, 1 host(s): baseline / shipyard"]
    assert upgrade.value == pytest.approx(7.5) and upgrade.met is True
    assert ts["bake cache hit (`shipyard bake` CLI, a new process)"].met is True
    # replaced by issue 16: shipyard / ssh floor at 1.5x and the API's 5 %
    assert not any(name.endswith(": shipyard / floor") for name in ts)
    assert not any("API overhead" in name for name in ts)


def test_a_noop_with_two_remote_calls_misses_the_one_call_target() -> None:
    res = _results()
    for s in res["samples"]:
        if s["side"] == "cli" and s["phase"] == "noop" and s["hosts"] == 3:
            s["calls"]["h2"] = {"remote": 2, "module": 2}
    ts = {t.name: t for t in report.targets(res)}
    assert ts["no-op: remote calls per host, CLI (most over every cell, host, rep)"].verdict == "missed by 1"
    assert ts["no-op: remote calls per host, shipyard (most over every cell, host, rep)"].met is True


def test_calls_not_recorded_are_not_measured() -> None:
    res = _results()
    for s in res["samples"]:
        s.pop("calls", None)
    ts = {t.name: t for t in report.targets(res)}
    assert ts["no-op: remote calls per host, CLI (most over every cell, host, rep)"].met is None
    assert report.calls_cell(report._multi(res), "shipyard", phase="noop") == "-"


def test_quick_targets_say_they_are_not_at_32() -> None:
    ts = {t.name: t for t in report.targets(_results("quick"))}
    big = ts["no-op, 4 inst/host, 1 host(s): shipyard (ansible-playbook) / Ansible floor"]
    assert big.note == "quick mode: at 4 instances/host, not 32"
    assert ts["rolling upgrade, 4 inst/host, 3 host(s): baseline / shipyard"].note == big.note
    small = ts["no-op, 1 inst/host, 3 host(s): CLI / Ansible floor"]
    assert small.note == ""
    res = _results("quick")
    res["config"]["hosts"] = [1, 2]
    two = {t.name: t for t in report.targets(res)}["no-op, 1 inst/host, 2 host(s): CLI / Ansible floor"]
    assert two.note == "quick mode: 2 host(s) only, not 3"


def test_render_has_metadata_tables_verdicts_plots_and_errors() -> None:
    text = report.render(_results(), ["multi.png", "scaling.png"])
    assert text.startswith("# shipyard benchmark results\n")
    for needle in (
        "| date (UTC) | 2026-11-25 08:00 |",
        "2 CPUs, kernel 6.1.0",
        "`abc1234`",
        "| mode | full (3 repetition(s) per cell, sides interleaved) |",
        "> CPU shared",
        "**missed by 0.1x**",
        "**met**",
        "| 16 | no-op, 32 inst/host, 3 host(s): shipyard (ansible-playbook) / Ansible floor | 1.38x | <= 1.5x "
        "| **met** |",
        "| 1 | 32 | upgrade 1.0.0 → 2.0.0 | 8.00 | 8.50 | 60.00 | 2.00 | 3.00 | 7.5x | 2.7x | 2.8x | 4.0x |",
        "### Remote calls per host",
        "| 3 | 32 | no-op rerun | 1 (1 module) | 1 (1 module) | 100 | 1 | 1 |",
        "| 1 | 1 | first deploy | 5 (2 module) | 5 (2 module) | 7 | 1 | 1 |",
        "shipyard's remote calls per host, every cell: first deploy 5 (2 module call(s)); no-op rerun 1 "
        "(1 module call(s)); upgrade 1.0.0 → 2.0.0 5 (2 module call(s)).",
        "Run systemd-analyze verify on it 0.90",
        "| `shipyard.api.deploy` | 10.20 | 0.20 s (2.0 %) | 1 |",
        "| `shipyard deploy` (CLI) | 10.50 | 0.50 s (5.0 %) | 1 |",
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


def test_explain_splits_the_converge_from_ansible_start_up() -> None:
    res = _results()
    res["profiles"]["shipyard/upgrade"] = {
        "instances": 32,
        "hosts": 1,
        "total": 19.0,
        "wall": 20.0,
        "tasks": [
            {
                "task": "Run the before-converge hook",
                "action": "ansible.builtin.include_tasks",
                "seconds": 0.01,
            },
            {"task": "Converge the service", "action": "shipyard.deploy.service_converge", "seconds": 9.6},
            {
                "task": "Run the after-converge hook",
                "action": "ansible.builtin.include_tasks",
                "seconds": 0.01,
            },
        ],
        "per_host": {"h1": {"results": 1, "calls": {"module": 2, "remote": 5, "copies": ["benchsvc"]}}},
    }
    res["profiles"]["ansible_floor/upgrade"] = {
        "instances": 32,
        "hosts": 1,
        "total": 2.5,
        "wall": 3.0,
        "tasks": [{"task": "raw", "action": "raw", "seconds": 2.0}],
    }
    split = report.profile_split(res["profiles"]["shipyard/upgrade"])
    assert split["module"] == pytest.approx(9.6) and split["other_tasks"] == 2
    assert split["total"] == 20.0 and split["startup"] == pytest.approx(20.0 - 9.62)
    text = "\n".join(report.explain(res))
    assert (
        "20.00 s = the `service_converge` task 9.60 s (2 module call(s), 5 remote execution(s), the "
        "artifact copied) + 2 other task(s) 0.02 s (the skipped hook includes)" in text
    )
    assert "the Ansible floor's whole run took 3.00 s" in text
    assert "the converge task costs 0.300 s per instance" in text
    assert "Where the time goes (from the task profile, section 1):" in report.render(res, [])


def test_target_strict_ops_and_a_bad_op() -> None:
    assert Target("t", 1.0, ">", 1.0).met is False
    assert Target("t", 1.01, ">", 1.0).verdict == "met"
    assert Target("t", 0.5, "<", 1.0).met is True
    with pytest.raises(ValueError, match="op '=<' is not one of"):
        Target("t", 1.0, "=<", 1.0)


def test_host_calls_from_a_profile_and_from_runner_events(tmp_path: Path) -> None:
    from bench.harness import events_calls, host_calls

    prof = {"per_host": {"h1": {"results": 1, "calls": {"module": 1, "remote": 1, "copies": []}},
                         "h2": {"results": 7}}}  # fmt: skip
    assert host_calls(prof) == {
        "h1": {"remote": 1, "module": 1, "copies": 0, "tasks": 1},
        "h2": {"remote": 7, "tasks": 7},
    }
    events = tmp_path / "artifacts" / "run" / "job_events"
    events.mkdir(parents=True)
    docs = [
        {"event": "runner_on_skipped", "event_data": {"host": "h1", "task_action": "include_tasks"}},
        {"event": "runner_on_ok", "event_data": {"host": "h1", "task_action": "shipyard.deploy.service_converge",
                                                 "res": {"calls": {"module": 2, "remote": 5, "copies": ["x"]}}}},
        {"event": "runner_on_ok", "event_data": {"host": "h2", "task_action": "ansible.builtin.raw",
                                                 "res": {"calls": {"module": 9}}}},
    ]  # fmt: skip
    for i, doc in enumerate(docs):
        (events / f"{i}-x.json").write_text(json.dumps(doc))
    (events / "9-partial.json").write_text("{")
    assert events_calls(tmp_path) == {"h1": {"remote": 5, "module": 2, "copies": 1}}


def test_profile_callback_counts_remote_results_and_keeps_the_converge_calls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.path.insert(0, str(ROOT / "bench" / "callback_plugins"))
    try:
        import bench_profile
    finally:
        sys.path.remove(str(ROOT / "bench" / "callback_plugins"))

    class Obj:
        def __init__(self, **kw: object) -> None:
            self.__dict__.update(kw)

    def result(host: str, action: str, res: dict) -> Obj:
        return Obj(_host=Obj(get_name=lambda: host), _task=Obj(action=action), _result=res)

    cb = bench_profile.CallbackModule()
    cb.v2_playbook_on_task_start(Obj(get_name=lambda: "hook", action="include_tasks"), False)
    cb.v2_runner_on_ok(result("h1", "ansible.builtin.include_tasks", {}))
    cb.v2_playbook_on_task_start(
        Obj(get_name=lambda: "Converge", action="shipyard.deploy.service_converge"), False
    )
    cb.v2_runner_on_ok(
        result("h1", "shipyard.deploy.service_converge", {"calls": {"module": 1, "remote": 1}})
    )
    cb.v2_runner_on_failed(
        result("h2", "shipyard.deploy.service_converge", {"calls": {"module": 2, "remote": 2}})
    )
    cb.v2_runner_on_ok(result("h1", "ansible.builtin.command", {"results": [{}, {}, {}]}))
    out = tmp_path / "prof.json"
    monkeypatch.setenv("BENCH_PROFILE_OUT", str(out))
    cb.v2_playbook_on_stats(None)
    doc = json.loads(out.read_text())
    assert doc["per_host"] == {
        "h1": {"results": 4, "calls": {"module": 1, "remote": 1}},
        "h2": {"results": 1, "calls": {"module": 2, "remote": 2}},
    }
    assert [t["task"] for t in doc["tasks"]] == ["hook", "Converge"]


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
