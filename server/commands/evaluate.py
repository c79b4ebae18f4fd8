"""`branchq evaluate LOG.jsonl --out PREDICTIONS.jsonl [--report DIR]`: how good are the waits we show?

Replays the log through the estimator and the baselines with a simulated
clock (no lookahead), writes the estimator's predictions in the spec's
format, and prints the metrics side by side.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from server.core.estimator import Estimator
from server.core.estimator.baselines import SERVICE_BASELINES, WAIT_BASELINES
from server.core.estimator.evaluate import OURS, replay_lines, report

COLUMNS = ("MAE", "RMSE", "bias", "coverage", "width", "late0", "late2", "late5", "winkler")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="replay a log through the estimator and baselines; print wait metrics")
    p.add_argument("log", help="event log (JSON Lines, spec v1.1)")
    p.add_argument("--out", help="write predictions here (JSON Lines)")
    p.add_argument("--report", help="write report.md, report.html and metrics.json into this folder")
    p.add_argument("--score-from", type=_day, metavar="YYYY-MM-DD",
                   help="score only tickets of this business day and later; the days before only warm the "
                        "estimator and the baselines up (as a branch's imported history would)")
    p.add_argument("--seed", type=int, default=20261201, help="the estimator's random seed")
    p.add_argument("--replications", type=int, default=64,
                   help="Monte Carlo replications per estimate (64, as the server runs; fewer is faster, less sharp)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    started, cpu = time.perf_counter(), time.process_time()
    gc.disable()  # the replay makes many small long-lived objects and few cycles: collecting is waste
    estimator = Estimator(rng=np.random.default_rng(args.seed), replications=args.replications, joins=False)
    out = open(args.out, "w", encoding="utf-8") if args.out else None  # noqa: SIM115
    try:
        write = (lambda d: out.write(json.dumps(d, ensure_ascii=False) + "\n")) if out else None
        with open(args.log, "rb") as fh:
            replay = replay_lines(fh, estimator, write)
    except OSError as exc:
        print(f"branchq evaluate: {exc}", file=sys.stderr)
        return 2
    finally:
        if out:
            out.close()
    rep = report(replay, args.score_from)
    if args.score_from:
        rep["score_from"] = args.score_from.isoformat()
    rep["seconds"] = round(time.perf_counter() - started, 1)
    rep["cpu_seconds"] = round(time.process_time() - cpu, 1)  # on a shared machine, the part that is ours
    text = render(rep, Path(args.log).name)
    print(text)
    if args.report:
        folder = Path(args.report)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report.md").write_text(text, encoding="utf-8")
        (folder / "report.html").write_text(_html(text), encoding="utf-8")
        (folder / "metrics.json").write_text(json.dumps(rep, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date; write it as YYYY-MM-DD, e.g. 2026-12-03") from None


def render(rep: dict[str, Any], name: str) -> str:
    """The metrics as a markdown report (also what the terminal shows)."""
    lines = [f"# Wait estimates on {name}", "",
             f"{rep['events']} events, {rep['tickets']} tickets: {rep['scored']} scored (called); "
             f"outcomes {rep['outcomes']}; {rep['unavailable_at_issue']} issued when no counter served the class; "
             f"{rep.get('seconds', '?')} s ({rep.get('cpu_seconds', '?')} s of CPU).", ""]
    if rep.get("score_from"):
        lines += [f"Scored from {rep['score_from']}: the days before warmed the predictors up and are not counted.", ""]
    if rep["warnings"]:
        lines += ["Repaired or skipped events: " + "; ".join(f"{k}: {v}" for k, v in rep["warnings"].items()), ""]
    lines += _table("Wait at issue (seconds; 80% interval; late = actual > high + x min)", rep["wait"],
                    (OURS, *WAIT_BASELINES))
    best = min(((rep["wait"][n]["MAE"], n) for n in WAIT_BASELINES if rep["wait"].get(n)), default=None)
    if best and best[0] > 0 and rep["wait"].get(OURS):
        lines += [f"MAE ratio to the best baseline ({best[1]}): {rep['wait'][OURS]['MAE'] / best[0]:.2f}", ""]
    elif not rep["scored"]:
        lines += ["No ticket was called: nothing to score.", ""]
    w = rep.get("wait_waited", {}).get(OURS)
    if w:
        wb = min(((rep["wait_waited"][n]["MAE"], n) for n in WAIT_BASELINES if rep["wait_waited"].get(n)),
                 default=(math.nan, "none"))
        lines += [f"Tickets that waited at all (n={w['n']:.0f}; the others were called at once and any range "
                  f"from 0 covers them): coverage {w['coverage']:.1%}, late +2 min {w['late2']:.1%}, "
                  f"MAE {w['MAE']:.0f} s vs {wb[0]:.0f} s ({wb[1]}), ratio {w['MAE'] / wb[0]:.2f}", ""]
    lines += ["## MAE / coverage by people ahead", ""]
    lines += _grouped(rep["by_ahead"], (OURS, *WAIT_BASELINES))
    lines += ["## MAE by class", ""] + _grouped(rep["by_class"], (OURS, *WAIT_BASELINES), cov=False)
    lines += ["## MAE by hour", ""] + _grouped(rep["by_hour"], (OURS, *WAIT_BASELINES), cov=False)
    lines += _table("Service duration at start (seconds)", rep["service"], (OURS, *SERVICE_BASELINES))
    sb = min((rep["service"][n]["MAE"], n) for n in SERVICE_BASELINES if rep["service"].get(n)) \
        if rep["service"].get(OURS) else None
    if sb and sb[0] > 0:
        lines += [f"MAE ratio to the best baseline ({sb[1]}): {rep['service'][OURS]['MAE'] / sb[0]:.2f}", ""]
    return "\n".join(lines)


def _table(title: str, metrics: dict[str, dict[str, float]], names: tuple[str, ...]) -> list[str]:
    out = [f"## {title}", "", "| predictor | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for n in names:
        m = metrics.get(n)
        if not m:
            continue
        cells = [f"{m[c]:.0f}" if c in ("MAE", "RMSE", "bias", "width", "winkler") else f"{m[c]:.1%}" for c in COLUMNS]
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return [*out, ""]


def _grouped(groups: dict[str, dict[str, dict[str, float]]], names: tuple[str, ...], cov: bool = True) -> list[str]:
    keys = sorted({k for n in names for k in groups.get(n, {})})
    if not keys:
        return ["(nothing scored)", ""]
    out = ["| predictor | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for n in names:
        g = groups.get(n, {})
        cells = []
        for k in keys:
            m = g.get(k)
            cells.append("" if m is None else f"{m['MAE']:.0f}" + (f" ({m['coverage']:.0%})" if cov else ""))
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    counts = groups.get(OURS, {})
    out.append("| n | " + " | ".join(str(int(counts[k]["n"])) if k in counts else "" for k in keys) + " |")
    return [*out, ""]


def _html(markdown: str) -> str:
    body = []
    for line in markdown.splitlines():
        if line.startswith("# ") or line.startswith("## "):
            level = 1 if line.startswith("# ") else 2
            body.append(f"<h{level}>{line.lstrip('# ')}</h{level}>")
        elif line.startswith("|---"):
            continue
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        elif line:
            body.append(f"<p>{line}</p>")
    html = "\n".join(body).replace("</p>\n<tr>", "</p>\n<table><tr>").replace("</tr>\n<h", "</tr></table>\n<h")
    html = html.replace("</tr>\n<p>", "</tr></table>\n<p>")
    return ("<!doctype html><meta charset='utf-8'><title>branchq evaluation</title>"
            "<style>body{font-family:sans-serif;max-width:70em;margin:2em auto}td{padding:2px 8px;"
            "border-bottom:1px solid #ddd;text-align:right}td:first-child{text-align:left}</style>\n" + html)
