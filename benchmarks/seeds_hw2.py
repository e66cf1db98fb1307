"""hw2 seed sweep: how often task 2.4's tests pass over many seeds, for the solution, every correct
variant that touches the controller or the training, and the wrong controllers.

Task 2.4's verdict rests on random outcomes (initial weights, batches). The policy: a threshold on a
random outcome holds for >= 99% of seeds for the solution and every correct answer, while the wrong
ones keep a stable verdict. This runs the two 2.4 tests themselves (their own judging code) in this
process on seeds drawn as `course audit --seeds N` draws them (trial 0 is the grading seed), prints
each configuration's and each test's pass rate, and draws the figure the handout shows.

    python benchmarks/seeds_hw2.py            # 300 seeds for right answers, 100 for wrong ones, 2 processes
    python benchmarks/seeds_hw2.py --seeds 20 --wrong-seeds 20 --only solution rate_compounds_on_the_current_rate

The default sweep takes about half an hour on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import json
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FIGURE = ROOT / "solutions" / "hw2" / "seed_sweep.png"
MODULES = ("pid", "plant", "lr_control")
PUBLIC = "test_controlled_training_reaches_the_target_where_fixed_does_not"
HIDDEN = "test_controlled_training_on_the_test_split"
# the configurations of the two tests (lr, controlled, split; split 1 validation, 2 test), and fixed runs
# beside them for comparison; the tests train the controlled ones
CONFIGS = [(10.0, False, 1), (10.0, True, 1), (0.003, False, 1), (0.003, True, 1), (5.0, True, 2), (0.001, True, 2)]


def label(config) -> str:
    lr, controlled, split = config
    return f"{'PID' if controlled else 'fixed'} from {lr:g} ({'val' if split == 1 else 'test'})"


# PID variants that cannot change a 2.4 run: task 2.4's PID has kd = 0, no limits, no filter, dt = 1
SAME_RUNS = {"derivative_on_error_kicks", "integral_winds_up", "dt_ignored", "derivative_sign_reversed",
             "filter_weights_swapped", "filter_in_increment_form", "clamping_by_the_sign_of_the_excess"}


def variants() -> dict:
    """name -> (kind, Variant or None): the solution, then every variant that edits pid.py or
    lr_control.py (plant.py is not used by task 2.4), less those in SAME_RUNS."""
    from grader.suites.hw2.hidden.variants import ALL_CORRECT as CORRECT
    from grader.suites.hw2.hidden.variants import ALL_WRONG as WRONG

    out = {"solution": ("solution", None)}
    for kind, group in (("correct", CORRECT), ("wrong", WRONG)):
        for v in group:
            if {file for file, _, _ in v.edits()} & {"pid.py", "lr_control.py"} and v.name not in SAME_RUNS:
                out[v.name] = (kind, v)
    return out


class InProcess:
    """The `submission` seam of the tests, run in this process on one submission folder (loaded by
    `load`): modules are the submission's own, drivers are hw2's. The course's loop (training.py)
    runs here as it runs on the grading side."""

    def __init__(self):
        from grader.worker.drivers import hw2 as drivers

        self.drivers = drivers

    def module(self, name):
        return sys.modules[name]

    def driver(self, assignment, name, *args, **kwargs):
        return getattr(self.drivers, name)(*args, **kwargs)


def load(folder: Path) -> None:
    """Import the submission's modules fresh, so `from pid import PID` finds this folder's."""
    for name in MODULES:
        sys.modules.pop(name, None)
    sys.path.insert(0, str(folder))
    try:
        for name in MODULES:
            importlib.import_module(name)
    finally:
        sys.path.remove(str(folder))


def sweep_one(job) -> dict:
    """One variant over a range of trials: per trial, each run's accuracy (the course's loop around the
    variant's digits_controller, or a fixed rate) and each test's verdict (the tests' own code)."""
    name, folder, trials = job
    import numpy as np
    import torch

    from grader.data import digit_features
    from grader.runner import test_seed
    from grader.suites.hw2 import training
    from grader.suites.hw2.hidden import test_hw2_hidden as hidden
    from grader.suites.hw2.public import test_lr_control as public

    torch.set_num_threads(1)
    load(Path(folder))
    digits = digit_features()
    x, labels, split = digits
    rows = []
    for trial in trials:
        row = {"trial": trial, "acc": [], "passed": {}, "why": {}}
        for test, module, split_id in ((PUBLIC, public, 1), (HIDDEN, hidden, 2)):
            seed = test_seed(f"suite::{test}", trial)
            try:
                getattr(module, test)(InProcess(), digits, seed)
                row["passed"][test] = True
            except AssertionError as exc:
                row["passed"][test], row["why"][test] = False, str(exc)[:200]
            except Exception as exc:  # the submission itself failed: that is a failed test too
                row["passed"][test], row["why"][test] = False, f"{type(exc).__name__}: {exc}"[:200]
            truth = labels[split == split_id]
            for lr, controlled, s in CONFIGS:
                if s != split_id:
                    continue
                try:
                    ctrl = sys.modules["lr_control"].digits_controller(lr) if controlled else None
                    run = training.train_digits(x[split == 0], labels[split == 0], x[split == s], lr, seed, controller=ctrl)
                    row["acc"].append(float(np.mean(run["predictions"] == truth)))
                except Exception:
                    row["acc"].append(0.0)
        rows.append(row)
    return {"name": name, "rows": rows}


def rates(rows: list[dict]) -> dict:
    """Pass rates per configuration (its accuracy on the right side of the threshold) and per test."""
    from grader.suites.hw2.public.test_lr_control import TARGET_ACCURACY

    out = {}
    for i, config in enumerate(CONFIGS):
        accs = [r["acc"][i] for r in rows if len(r["acc"]) == len(CONFIGS)]
        ok = [(a >= TARGET_ACCURACY) == config[1] for a in accs]
        out[label(config)] = (sum(ok) / len(ok) if ok else float("nan"), min(accs, default=float("nan")),
                              sorted(accs)[len(accs) // 2] if accs else float("nan"))
    for test in (PUBLIC, HIDDEN):
        out[test] = sum(r["passed"][test] for r in rows) / len(rows)
    return out


def expected_to_pass(report: dict, name: str) -> bool:
    """Should this version keep task 2.4's points? (Right answers, and mistakes that cost other tasks.)"""
    return "2.4" not in report[name].get("loses", [])


def figure(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from grader.suites.hw2.public.test_lr_control import TARGET_ACCURACY

    right = [n for n, r in report.items() if r["kind"] in ("solution", "correct")]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=80, gridspec_kw={"width_ratios": [1.3, 1]})
    for i, config in enumerate(CONFIGS):
        accs = np.array([row["acc"][i] for n in right for row in report[n]["rows"] if len(row["acc"]) == len(CONFIGS)])
        jitter = np.random.default_rng(i).uniform(-0.3, 0.3, len(accs))
        a.scatter(accs, i + jitter, s=4, alpha=0.35, color="tab:blue" if config[1] else "tab:gray", linewidths=0)
    a.axvline(TARGET_ACCURACY, color="tab:red", linewidth=1)
    a.text(TARGET_ACCURACY - 0.01, len(CONFIGS) - 0.6, f"target {TARGET_ACCURACY:.0%}", color="tab:red", fontsize=8,
           ha="right")
    a.set_yticks(range(len(CONFIGS)), [label(c) for c in CONFIGS], fontsize=8)
    a.invert_yaxis()
    seeds = len(report["solution"]["rows"])
    a.set(xlabel="held-out accuracy after 300 steps", xlim=(0, 1))
    a.set_title(f"the solution and {len(right) - 1} other correct versions, {seeds} seeds each", fontsize=9)
    names = list(report)
    passed = [100 * min(report[n]["rates"][PUBLIC], report[n]["rates"][HIDDEN]) for n in names]
    colors = ["tab:green" if expected_to_pass(report, n) else "tab:red" for n in names]
    b.barh(range(len(names)), passed, color=colors)
    for i, p in enumerate(passed):
        b.text(min(p, 88) + 1, i, f"{p:.0f}%", va="center", fontsize=6, color=colors[i] if p < 88 else "black")
    b.set_yticks(range(len(names)), names, fontsize=6)
    b.invert_yaxis()
    wrong = [len(report[n]["rows"]) for n in names if report[n]["kind"] == "wrong"]
    b.set(xlabel=f"% of seeds passing both task 2.4 tests\n({seeds} per right answer"
                 + (f", {max(wrong)} per wrong one)" if wrong else ")"), xlim=(0, 100))
    b.xaxis.label.set_fontsize(8)
    b.set_title("green: should pass 2.4 (correct, or wrong elsewhere)\nred: a mistake that should fail 2.4", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def show(report: dict) -> None:
    """The sweep as two tables: per configuration, and per test."""
    print("\nper configuration: % of seeds on the right side of the target (min / median accuracy)")
    for name, r in report.items():
        cells = "  ".join(f"{label(c)} {100 * r['rates'][label(c)][0]:5.1f}% ({r['rates'][label(c)][1]:.3f}/{r['rates'][label(c)][2]:.3f})"
                          for c in CONFIGS)
        print(f"  {r['kind']:<8} {name:<44} {len(r['rows']):4d} seeds  {cells}")
    print("\nper test: % of seeds passing (a wrong variant that names 2.4 should be near 0, any other near 100)")
    for name, r in report.items():
        why = next((row["why"] for row in r["rows"] if row["why"]), {})
        note = f"   e.g. {next(iter(why.values()))[:110]}" if why else ""
        print(f"  {r['kind']:<8} {name:<44} public {100 * r['rates'][PUBLIC]:5.1f}%   hidden {100 * r['rates'][HIDDEN]:5.1f}%{note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300, help="trials per right answer (trial 0 is the grading seed)")
    parser.add_argument("--wrong-seeds", type=int, default=100, help="trials per wrong variant")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="variant names (default: all that touch the controller)")
    parser.add_argument("--figure", default=str(FIGURE), help="where to draw the figure ('' for none)")
    parser.add_argument("--json", type=Path, help="also write the raw accuracies here")
    parser.add_argument("--redraw", type=Path, help="only draw the figure from a --json file of an earlier sweep")
    args = parser.parse_args()
    if args.redraw:
        report = json.loads(args.redraw.read_text())
        show(report)
        figure(report, Path(args.figure))
        return

    from grader.audit import make_submission

    chosen = {n: kv for n, kv in variants().items() if not args.only or n in args.only}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="seeds-hw2-") as tmp:
        folders = {}
        for name, (kind, v) in chosen.items():
            folder = Path(tmp) / name
            if v is None:
                folder.mkdir()
                for m in MODULES:
                    (folder / f"{m}.py").write_text((ROOT / "solutions" / "hw2" / f"{m}.py").read_text())
            else:
                make_submission(ROOT / "solutions" / "hw2", v, folder)
            folders[name] = folder
        trials = {n: args.wrong_seeds if chosen[n][0] == "wrong" else args.seeds for n in folders}
        chunk = max(5, args.seeds // (4 * args.jobs))
        jobs = [(n, str(f), range(s, min(s + chunk, trials[n]))) for n, f in folders.items() for s in range(0, trials[n], chunk)]
        with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
            done = pool.map(sweep_one, jobs, chunksize=1)
    report = {n: {"kind": kind, "loses": list(v.loses) if v else [], "rows": []} for n, (kind, v) in chosen.items()}
    for part in done:
        report[part["name"]]["rows"] += part["rows"]
    for name, r in report.items():
        r["rows"].sort(key=lambda row: row["trial"])
        r["rates"] = rates(r["rows"])

    print(f"hw2 seed sweep: {time.perf_counter() - started:.0f} s")
    show(report)
    if args.json:
        args.json.write_text(json.dumps(report))
    if args.figure and "solution" in report:
        figure(report, Path(args.figure))
        print(f"\nfigure: {args.figure} ({Path(args.figure).stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
