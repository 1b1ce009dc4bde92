"""Training curves as PNG figures for the report."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from fashion_dcgan.files import atomic_path


def line_plot(path: str | Path, x: list[float], series: dict[str, list[float]], xlabel: str, title: str) -> None:
    figure, axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    for label, values in series.items():
        axis.plot(x, values, label=label, marker="o" if len(x) < 30 else None)
    axis.set_xlabel(xlabel)
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png")
    plt.close(figure)
