"""Plots the notebooks use: training curves, comparison curves, confusion matrices, image grids.

Every function draws into a new matplotlib figure and returns it, so a notebook
can show it, save it, or pass it to the course report.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch


def plot_history(histories: dict, title: str = "") -> plt.Figure:
    """Loss and accuracy per epoch for one or more runs: ``{"pretrained": history, ...}``.

    A run with validation scores gets a dotted line at its best validation epoch: the epoch early
    stopping would keep (and did keep, when ``fit`` ran with ``keep_best=True``).
    """
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 3.5))
    for label, history in histories.items():
        if history.val_acc:
            best_epoch = history.epoch[history.val_acc.index(max(history.val_acc))]
            for ax in (ax_loss, ax_acc):
                ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
        ax_loss.plot(history.epoch, history.train_loss, "-o", label=f"{label} (train)")
        if history.val_loss:
            ax_loss.plot(history.epoch, history.val_loss, "--o", label=f"{label} (val)")
        ax_acc.plot(history.epoch, history.train_acc, "-o", label=f"{label} (train)")
        if history.val_acc:
            ax_acc.plot(history.epoch, history.val_acc, "--o", label=f"{label} (val)")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax_acc.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(x, curves: dict, xlabel: str, ylabel: str = "accuracy", title: str = "",
                logx: bool = False, errors: dict | None = None) -> plt.Figure:
    """Several named y-series over the same x, e.g. accuracy vs number of labels.

    ``errors`` (optional, same names): a half-width per point, drawn as an error bar (e.g. a 95% interval).
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, ys in curves.items():
        if errors and label in errors:
            ax.errorbar(x, ys, yerr=errors[label], fmt="-o", capsize=3, label=label)
        else:
            ax.plot(x, ys, "-o", label=label)
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_confusion_matrix(labels, predictions, class_names, title: str = "") -> plt.Figure:
    """Counts of (true class, predicted class): where the errors go."""
    from sklearn.metrics import ConfusionMatrixDisplay

    fig, ax = plt.subplots(figsize=(5, 5))
    ConfusionMatrixDisplay.from_predictions(np.asarray(labels), np.asarray(predictions),
                                            display_labels=class_names, ax=ax, colorbar=False)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def unnormalise(images: torch.Tensor, mean, std) -> torch.Tensor:
    """Undo the input normalisation so images can be shown: ``[N, 3, H, W]`` in 0..1."""
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (images * std + mean).clamp(0, 1)


def show_images(images: torch.Tensor, labels=None, class_names=None, mean=(0.0,) * 3, std=(1.0,) * 3,
                columns: int = 8, title: str = "") -> plt.Figure:
    """A grid of (normalised) image tensors with their labels underneath."""
    images = unnormalise(images.detach().cpu().float(), mean, std)
    rows = int(np.ceil(len(images) / columns))
    fig, axes = plt.subplots(rows, columns, figsize=(1.4 * columns, 1.5 * rows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i].permute(1, 2, 0).numpy())
            if labels is not None:
                label = int(labels[i])
                ax.set_title(class_names[label] if class_names else str(label), fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_bars(groups: dict, ylabel: str = "accuracy", title: str = "") -> plt.Figure:
    """Grouped bars: ``{"MNIST": {"pixels": 0.8, "ImageNet features": 0.83}, ...}``, value printed on each bar."""
    group_names = list(groups)
    series = list(dict.fromkeys(name for values in groups.values() for name in values))
    width = 0.8 / len(series)
    fig, ax = plt.subplots(figsize=(1.8 + 1.6 * len(group_names), 3.8))
    for i, name in enumerate(series):
        xs = np.arange(len(group_names)) + (i - (len(series) - 1) / 2) * width
        heights = [groups[g].get(name, np.nan) for g in group_names]
        bars = ax.bar(xs, heights, width, label=name)
        ax.bar_label(bars, fmt="%.2f", fontsize=8)
    ax.set_xticks(np.arange(len(group_names)), group_names)
    ax.set(ylabel=ylabel, title=title, ylim=(0, 1.05))
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig


def _labelled_points(ax, rows: list[dict], x: str, name: str, xlabel: str) -> None:
    """One point per row at ``(row[x], row["accuracy"])``, annotated with ``row[name]``."""
    for row in rows:
        ax.scatter(row[x], row["accuracy"], s=40)
        ax.annotate(row[name], (row[x], row["accuracy"]), fontsize=8, xytext=(4, 4), textcoords="offset points")
    ax.set(xlabel=xlabel, ylabel="test accuracy")
    ax.grid(alpha=0.3)


def plot_tradeoff(rows: list[dict], title: str = "") -> plt.Figure:
    """Accuracy against trainable parameters and against time per epoch, one labelled point per strategy.

    ``rows``: dicts with ``strategy``, ``accuracy``, ``trainable`` (parameters) and ``seconds_per_epoch``.
    """
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    _labelled_points(axes[0], rows, "trainable", "strategy", "trainable parameters")
    _labelled_points(axes[1], rows, "seconds_per_epoch", "strategy", "seconds per epoch")
    axes[0].set_xscale("symlog", linthresh=1e4)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_size_vs_accuracy(rows: list[dict], title: str = "size vs accuracy") -> plt.Figure:
    """Accuracy against compressed size on disk (log scale), one labelled point per model.

    ``rows``: dicts with ``model``, ``accuracy`` and ``gzip_KB`` (what ``methods.compression.report`` returns).
    """
    fig, ax = plt.subplots(figsize=(6, 3.8))
    _labelled_points(ax, rows, "gzip_KB", "model", "size on disk, gzip-compressed (KB, log scale)")
    ax.set(xscale="log", title=title)
    fig.tight_layout()
    return fig


def plot_embedding_2d(points, labels, title: str = "", class_names=None, ax=None, markers=None) -> plt.Figure:
    """Scatter a 2-D map of features (t-SNE or PCA output), one colour per label."""
    points, labels = np.asarray(points), np.asarray(labels)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
    else:
        fig = ax.figure
    for value in np.unique(labels):
        chosen = labels == value
        name = class_names[value] if class_names is not None else str(value)
        ax.scatter(points[chosen, 0], points[chosen, 1], s=6, alpha=0.7, label=name,
                   marker=(markers or {}).get(value, "o"))
    ax.set(title=title, xticks=[], yticks=[])
    ax.legend(fontsize=7, markerscale=2, loc="best", ncol=2)
    return fig


def tsne_2d(features, seed: int = 0, max_points: int = 1000):
    """t-SNE of (at most ``max_points``) feature vectors after a PCA to 50 dimensions, for plotting.

    Returns ``(points, kept_indices)``.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = np.asarray(features, dtype=np.float32)
    kept = np.random.default_rng(seed).permutation(len(features))[:max_points]
    reduced = PCA(n_components=min(50, features.shape[1], len(kept)), random_state=seed).fit_transform(features[kept])
    perplexity = min(30.0, (len(kept) - 1) / 3)  # t-SNE needs fewer neighbours than points (smoke-scale runs)
    points = TSNE(n_components=2, init="pca", random_state=seed, perplexity=perplexity).fit_transform(reduced)
    return points, kept
