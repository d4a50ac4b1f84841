"""`anxin eval --png`: delays and false alerts per home, one row per source (matplotlib is imported here only)."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from evaluation.scoring import HomeScore


def plot(sources: list[tuple[str, list[HomeScore]]], path: Path) -> None:
    """A PNG with, for each source, delays per incident type and false person alerts per home."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(sources), 2, figsize=(13, 4.5 * len(sources)), squeeze=False)
    for (name, scores), (ax1, ax2) in zip(sources, axes, strict=True):
        delays: dict[str, list[float]] = defaultdict(list)
        for s in scores:
            for typ, _w, d in s.hits:
                if d is not None:
                    delays[typ].append(d)
        names = sorted(delays)
        if names:
            ax1.boxplot([delays[n] for n in names], vert=False)
            ax1.set_yticks(range(1, len(names) + 1), names)
        ax1.set_xscale("symlog")
        ax1.set_xlim(left=0)
        ax1.set_xlabel("detection delay (min)")
        ax1.set_title(f"{name}: delay from incident start to the first matching finding")
        ax2.bar(range(len(scores)), [len(s.false_alarms) / s.days * 60 for s in scores])
        ax2.set_xticks(range(len(scores)), [s.home for s in scores], rotation=60, fontsize=7)
        ax2.axhline(1.0, color="red", linestyle="--", label="target: 1 per 60 days")
        ax2.set_ylabel("false person alerts per 60 days")
        ax2.set_title(f"{name}: false critical+warning person alerts per home")
        ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
