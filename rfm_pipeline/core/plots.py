"""The figures the assets attach: plain matplotlib (Agg backend), small and readable."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

SIZE = (6.4, 4.0)
DPI = 80


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (closed afterwards, so figures never pile up)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(figure)
    return buffer.getvalue()


def bar_chart(labels: list[str], values: list[float], title: str, xlabel: str) -> Figure:
    """Horizontal bars, first label on top."""
    figure, axes = plt.subplots(figsize=SIZE)
    axes.barh(labels[::-1], values[::-1], color="#4C72B0")
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    figure.tight_layout()
    return figure


def silhouette_by_k(scores: pd.DataFrame, title: str) -> Figure:
    """Silhouette against k, one line per algorithm."""
    figure, axes = plt.subplots(figsize=SIZE)
    for algorithm, group in scores.groupby("algorithm", sort=False):
        axes.plot(group["k"], group["silhouette"], marker="o", label=algorithm)
    axes.set_xlabel("k (clusters)")
    axes.set_ylabel("silhouette")
    axes.set_title(title)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    return figure


def minmax(frame: pd.DataFrame) -> pd.DataFrame:
    """Each column scaled to 0..1 across the rows (a constant column to 0)."""
    return (frame - frame.min()) / (frame.max() - frame.min()).replace(0, 1)


def radar_chart(means: pd.DataFrame, names: dict[int, str], title: str) -> Figure:
    """One polygon per row (a segment or group) over its means, min-max scaled across rows."""
    scaled_means = minmax(means)
    axes_labels = list(scaled_means.columns)
    angles = np.linspace(0, 2 * np.pi, len(axes_labels), endpoint=False).tolist()
    figure = plt.figure(figsize=(5.0, 5.0))
    axes = figure.add_subplot(polar=True)
    for segment, row in scaled_means.iterrows():
        values = row.tolist()
        axes.plot([*angles, angles[0]], [*values, values[0]], label=names.get(segment, segment))
        axes.fill([*angles, angles[0]], [*values, values[0]], alpha=0.1)
    axes.set_xticks(angles)
    axes.set_xticklabels(axes_labels)
    axes.set_ylim(0, 1)
    axes.set_title(title)
    axes.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize="small")
    return figure


def snake_plot(standardised: pd.DataFrame, names: dict[int, str], title: str) -> Figure:
    """Mean standardised recency, frequency, monetary per segment, as lines."""
    figure, axes = plt.subplots(figsize=SIZE)
    for segment, row in standardised.iterrows():
        axes.plot(list(row.index), row.tolist(), marker="o", label=names.get(segment, segment))
    axes.axhline(0, color="grey", linewidth=0.8)
    axes.set_ylabel("mean (standard deviations)")
    axes.set_title(title)
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure


def embedding_scatter(points: pd.DataFrame, title: str) -> Figure:
    """Customers in a 2-D embedding (`x`, `y`), coloured by `segment_name`."""
    figure, axes = plt.subplots(figsize=SIZE)
    placed = points.dropna(subset=["x", "y"])
    for name, group in placed.groupby("segment_name", sort=True):
        axes.scatter(group["x"], group["y"], s=3, alpha=0.6, label=name, rasterized=True)
    axes.set_title(title)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(fontsize="small", markerscale=4, loc="best")
    figure.tight_layout()
    return figure


def confusion_heatmap(confusion: pd.DataFrame, names: dict[int, str], title: str) -> Figure:
    """Counts of true (rows) against predicted (columns) segments."""
    labels = [names.get(int(c), str(c)) for c in confusion.columns]
    labelled = pd.DataFrame(confusion.to_numpy(), index=labels, columns=labels)
    return count_heatmap(labelled.rename_axis(index="true", columns="predicted"), title)


def count_heatmap(counts: pd.DataFrame, title: str) -> Figure:
    """A table of counts as a heatmap, rows and columns labelled and titled by their names."""
    figure, axes = plt.subplots(figsize=(1.6 + 0.7 * counts.shape[1], 1.6 + 0.5 * counts.shape[0]))
    axes.imshow(counts.to_numpy(), cmap="Blues")
    axes.set_xticks(
        range(counts.shape[1]), counts.columns, rotation=45, ha="right", fontsize="small"
    )
    axes.set_yticks(range(counts.shape[0]), counts.index, fontsize="small")
    for (i, j), count in np.ndenumerate(counts.to_numpy()):
        axes.text(j, i, str(count), ha="center", va="center", fontsize="small")
    axes.set_xlabel(counts.columns.name or "")
    axes.set_ylabel(counts.index.name or "")
    axes.set_title(title)
    figure.tight_layout()
    return figure


def column_chart(labels: list[str], values: list[float], title: str, ylabel: str) -> Figure:
    """Vertical bars in the given order (months, weekdays, hours)."""
    figure, axes = plt.subplots(figsize=SIZE)
    axes.bar(labels, values, color="#4C72B0")
    axes.set_title(title)
    axes.set_ylabel(ylabel)
    axes.tick_params(axis="x", labelrotation=45 if len(labels) > 8 else 0, labelsize="small")
    figure.tight_layout()
    return figure


def histogram(values: pd.Series, title: str, xlabel: str, upper_quantile: float = 0.99) -> Figure:
    """Distribution of the values up to a high quantile (the long tail is noted in the title)."""
    cap = float(values.quantile(upper_quantile)) if len(values) else 0.0
    figure, axes = plt.subplots(figsize=SIZE)
    axes.hist(values[values <= cap], bins=50, color="#4C72B0")
    axes.set_title(f"{title} (up to the {upper_quantile:.0%} quantile, {cap:,.0f})")
    axes.set_xlabel(xlabel)
    axes.set_ylabel("count")
    figure.tight_layout()
    return figure


def keyword_chart(top: pd.DataFrame, names: dict[int, str], title: str) -> Figure:
    """One small bar chart per category: its most characteristic keywords and their share."""
    categories = sorted(top["category_id"].unique())
    columns = min(3, len(categories)) or 1
    rows = -(-len(categories) // columns) or 1
    figure, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 2.4 * rows), squeeze=False)
    for ax in axes.flat[len(categories) :]:
        ax.axis("off")
    for ax, category in zip(axes.flat, categories, strict=False):
        words = top[top["category_id"] == category]
        ax.barh(words["keyword"][::-1], words["share"][::-1], color="#4C72B0")
        ax.set_title(f"{category}: {names.get(category, '')}", fontsize="small")
        ax.tick_params(labelsize="small")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def calibration_plot(curves: pd.DataFrame, title: str) -> Figure:
    """Mean predicted against mean actual spend per decile of the prediction, one line per
    model (columns model, predicted, actual), with the diagonal a perfect forecast follows."""
    figure, axes = plt.subplots(figsize=SIZE)
    for model, curve in curves.groupby("model", sort=False):
        axes.plot(curve["predicted"], curve["actual"], marker="o", label=str(model))
    top = float(max(curves["predicted"].max(), curves["actual"].max(), 1.0))
    axes.plot([0, top], [0, top], color="grey", linestyle="--", linewidth=1, label="perfect")
    axes.set(title=title, xlabel="mean predicted spend", ylabel="mean actual spend")
    axes.legend(fontsize="small")
    figure.tight_layout()
    return figure
