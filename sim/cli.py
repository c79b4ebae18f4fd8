"""`branchq sim fit|run|compare|optimize`: the staffing simulator's commands."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from server.core.errors import InvalidInput


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sim", help="staffing simulator: fit, run, compare, optimize")
    sub = p.add_subparsers(dest="sim_command", required=True)

    r = sub.add_parser("run", help="simulate days of a scenario; print KPIs, write the event log")
    r.add_argument("scenario")
    r.add_argument("--days", type=int, default=20)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--out", help="write the event log (JSONL, spec v1.1)")
    r.add_argument("--report", help="write an HTML report into this folder")
    r.add_argument("--by-class", action="store_true", help="also print the interval table of each service")
    r.add_argument("--estimator", action="store_true",
                   help="replay the days through the estimator: share of waits beyond the range shown")
    _parallel(r)
    r.set_defaults(run=_run)

    f = sub.add_parser("fit", help="fit a scenario to an event log")
    f.add_argument("log")
    f.add_argument("--out", required=True)
    f.add_argument("--interval", type=int, default=30, help="minutes per arrival interval")
    f.set_defaults(run=_fit)

    c = sub.add_parser("compare", help="side-by-side KPIs of scenarios on the same customers")
    c.add_argument("scenarios", nargs="+")
    c.add_argument("--replications", "-r", type=int, default=30)
    c.add_argument("--seed", type=int, default=1)
    _parallel(c)
    c.set_defaults(run=_compare)

    o = sub.add_parser("optimize", help="fewest counter-hours meeting a service target, next to Erlang C")
    o.add_argument("scenario")
    o.add_argument("--target", default="80% within 10 min")
    o.add_argument("--max-abandon", default=None, help="e.g. 3%%")
    o.add_argument("--max-counters", type=int, default=None)
    o.add_argument("--min-shift", default="2h")
    o.add_argument("--replications", "-r", type=int, default=20)
    o.add_argument("--seed", type=int, default=1)
    _parallel(o)
    o.set_defaults(run=_optimize)


def _parallel(p: argparse.ArgumentParser) -> None:
    p.add_argument("--jobs", "-j", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--dask", default=None, help="run replications on a Dask scheduler at this address")


def _guard(fn):  # type: ignore[no-untyped-def]
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except InvalidInput as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except OSError as exc:  # a missing input, an output that cannot be written
            print(f"error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
            return 2

    return wrapped


def _ready_to_write(path: Path) -> None:
    """Create the output's folder; raise OSError now if the file could not be written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        raise IsADirectoryError(21, "is a folder, not a file", str(path))
    with open(path, "a", encoding="utf-8"):
        pass


@_guard
def _run(args: argparse.Namespace) -> int:
    from .kpis import format_summary, summarise
    from .runner import run_days
    from .scenario import load_scenario

    scn = load_scenario(args.scenario)
    for target in (args.out, args.report and Path(args.report) / "index.html"):
        if target:
            _ready_to_write(Path(target))  # fail before the simulation, not after it
    outs = run_days(scn, args.days, args.seed, args.jobs, log=bool(args.out or args.estimator), dask=args.dask)
    summary = summarise([o.kpis for o in outs])
    print(format_summary(scn, summary, by_class=args.by_class))
    if args.estimator:
        from .kpis import fmt_ci
        from .shown import late_shares

        late = late_shares("".join(o.jsonl or "" for o in outs))
        print(f"  waits beyond the range shown at the ticket: {fmt_ci(*late['late'], pct=True)}"
              f" (by more than 2 min: {fmt_ci(*late['late2'], pct=True)})")
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            for o in outs:
                fh.write(o.jsonl or "")
        print(f"event log: {args.out}")
    if args.report:
        from .report import write_report

        path = write_report(scn, summary, Path(args.report))
        print(f"report: {path}")
    return 0


@_guard
def _fit(args: argparse.Namespace) -> int:
    from .fit import fit_log

    _ready_to_write(Path(args.out))
    text = fit_log(Path(args.log), interval=args.interval, name=Path(args.out).stem)
    Path(args.out).write_text(text, encoding="utf-8")
    print(f"scenario: {args.out}")
    return 0


@_guard
def _compare(args: argparse.Namespace) -> int:
    from .compare import compare, format_compare
    from .scenario import load_scenario

    scns = [load_scenario(p) for p in args.scenarios]
    print(format_compare(scns, compare(scns, args.replications, args.seed, args.jobs, args.dask)))
    return 0


@_guard
def _optimize(args: argparse.Namespace) -> int:
    from .optimize import main_optimize

    return main_optimize(args)
