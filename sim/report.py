"""HTML report of a simulation run: four plots (matplotlib PNGs, embedded) and the KPI table."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np

from .kpis import Summary, format_summary, grid
from .scenario import Scenario


def _png(fig) -> str:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _hours(ax, scn: Scenario) -> None:  # type: ignore[no-untyped-def]
    ticks = np.arange(np.floor(scn.doors_open / 60) * 60, scn.doors_close + 61, 60)
    ax.set_xticks(ticks, [f"{int(t // 60):02d}:00" for t in ticks])
    ax.grid(alpha=0.3)


def plots(scn: Scenario, s: Summary) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    starts = scn.interval_starts()
    mids = starts + scn.interval / 2
    T = scn.service_level_minutes
    out = {}

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.bar(mids, s.mean["arrivals"][-1, :-1] * 60 / scn.interval, width=scn.interval * 0.9, alpha=0.5,
           label="arrivals per hour")
    ax.set_ylabel("customers per hour")
    ax2 = ax.twinx()
    ax2.step(grid(scn), s.open, where="post", color="C3", label="counters open")
    ax2.set_ylabel("counters open", color="C3")
    ax2.set_ylim(0, max(1, s.open.max()) + 1)
    _hours(ax, scn)
    ax.set_title("Arrivals and counters open over the day")
    out["Arrivals and counters"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    p50, p90 = s.mean["wait_p50"][-1, :-1], s.mean["wait_p90"][-1, :-1]
    ax.fill_between(mids, p50, p90, alpha=0.3, label="p50–p90")
    ax.plot(mids, s.mean["wait_mean"][-1, :-1], "o-", label="mean")
    ax.axhline(T, color="grey", ls="--", lw=1)
    ax.set_ylabel("wait (min)")
    ax.legend()
    _hours(ax, scn)
    ax.set_title("Waits by interval of arrival")
    out["Waits"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    sl, h = s.mean["service_level"][-1, :-1] * 100, s.half["service_level"][-1, :-1] * 100
    ax.errorbar(mids, sl, yerr=np.nan_to_num(h), fmt="o-", capsize=3, label=f"called within {T:g} min")
    ax.axhline(80, color="C3", ls="--", lw=1, label="80 % target")
    ax.set_ylim(0, 105)
    ax.set_ylabel("%")
    ax.legend(loc="lower left")
    _hours(ax, scn)
    ax.set_title("Service level by interval (95 % CI across days)")
    out["Service level"] = _png(fig)

    fig, ax = plt.subplots(figsize=(8, 3.2))
    ax.plot(grid(scn), s.queue)
    ax.set_ylabel("people waiting (mean of days)")
    _hours(ax, scn)
    ax.set_title("Queue length over the day")
    out["Queue"] = _png(fig)
    return out


def write_report(scn: Scenario, s: Summary, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    imgs = "".join(f'<h2>{html.escape(k)}</h2><img alt="{html.escape(k)}" src="data:image/png;base64,{v}">'
                   for k, v in plots(scn, s).items())
    page = (
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\">"
        f"<title>branchq simulation: {html.escape(scn.name)}</title>"
        "<style>body{font-family:sans-serif;max-width:900px;margin:2em auto}pre{font-size:12px}</style>"
        f"<h1>Simulation of {html.escape(scn.config.name)} ({html.escape(scn.name)})</h1>"
        f"<pre>{html.escape(format_summary(scn, s))}</pre>{imgs}</html>"
    )
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
