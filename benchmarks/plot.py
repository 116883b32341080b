"""A benchmark's figures as one SVG picture: a panel per measurement, a horizontal bar per figure.

Every benchmark script takes ``--plot FILE.svg`` and draws what it printed with a `Chart`;
tools/benchmark_plots.py runs them all into docs/pictures/benchmarks/, the pictures of the
documentation's performance page. SVG is written directly (text, no plotting library): the
picture is small, diffable, and needs nothing installed.
"""

from __future__ import annotations

import datetime
import os
import platform
import sys
from dataclasses import dataclass, field
from html import escape
from pathlib import Path

WIDTH = 760
LABEL_WIDTH = 250
VALUE_WIDTH = 110
BAR_HEIGHT = 18
GAP = 6
PANEL_TITLE = 26
MARGIN = 16
COLOURS = ("#3f51b5", "#009688", "#ff9800", "#9c27b0", "#607d8b", "#e91e63")


@dataclass
class Panel:
    title: str
    unit: str
    bars: list[tuple[str, float]] = field(default_factory=list)


class Chart:
    """Figures added panel by panel (one unit per panel), then written as one SVG."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.panels: dict[str, Panel] = {}

    def add(self, panel: str, label: str, value: float, unit: str) -> None:
        """One bar: `label` measured `value` `unit` in the measurement `panel`."""
        shown = self.panels.setdefault(panel, Panel(panel, unit))
        if shown.unit != unit:
            raise ValueError(f"panel {panel!r} is in {shown.unit}, not {unit}")
        shown.bars.append((label, float(value)))

    def svg(self) -> str:
        """The picture: the title, the machine it was measured on, then each panel's bars."""
        rows, y = [], MARGIN + 24
        rows.append(_text(MARGIN, y, self.title, size=16, weight="bold"))
        y += 20
        rows.append(_text(MARGIN, y, _machine(), size=11, fill="#555"))
        y += 14
        for panel in self.panels.values():
            y += PANEL_TITLE
            rows.append(_text(MARGIN, y - 8, f"{panel.title} ({panel.unit})", size=13, weight="bold"))
            largest = max((value for _, value in panel.bars), default=0.0) or 1.0
            span = WIDTH - LABEL_WIDTH - VALUE_WIDTH - 2 * MARGIN
            for k, (label, value) in enumerate(panel.bars):
                length = max(1.0, span * value / largest) if value > 0 else 0.0
                colour = COLOURS[k % len(COLOURS)]
                rows.append(_text(MARGIN, y + BAR_HEIGHT - 5, label, size=12))
                tip = escape(f"{label}: {_number(value)} {panel.unit}")
                rows.append(
                    f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
                    f'fill="{colour}"><title>{tip}</title></rect>'
                )
                rows.append(_text(LABEL_WIDTH + length + 6, y + BAR_HEIGHT - 5, _number(value), size=12))
                y += BAR_HEIGHT + GAP
        height = y + MARGIN
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">\n'
            f'<rect width="{WIDTH}" height="{height}" fill="white"/>\n' + "\n".join(rows) + "\n</svg>\n"
        )

    def write(self, path: str | os.PathLike) -> None:
        """Write the SVG at `path`, whole or not at all (a temporary file beside it, then a move)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staged = target.with_name(f".{target.name}.{os.getpid()}")
        staged.write_text(self.svg())
        staged.replace(target)
        print(f"plot: {target}")


def plot_path(argv: list[str]) -> tuple[str | None, list[str]]:
    """``--plot FILE`` taken out of a script's arguments: (FILE or None, the other arguments)."""
    if "--plot" not in argv:
        return None, argv
    at = argv.index("--plot")
    if at + 1 >= len(argv):
        sys.exit("--plot needs a file name (an .svg)")
    return argv[at + 1], argv[:at] + argv[at + 2 :]


def _machine() -> str:
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{when}; Python {platform.python_version()}, {os.cpu_count()} cores; "
        f"load average {load} at the end (other work on the machine slows every figure)"
    )


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def _text(x: float, y: float, text: str, size: int, weight: str = "normal", fill: str = "#222") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}">{escape(text)}</text>'
    )
