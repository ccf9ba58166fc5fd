"""Interactive explorers (ipywidgets sliders) with a static fallback.

Each explorer shows one matplotlib figure. In a live notebook (JupyterLab, Colab)
a slider sits above it and redraws it in place as you move it. A stored notebook
keeps the figure for the starting value and a one-line text instead of the widget:
that is what GitHub, nbviewer and the course report show.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from .colab import enable_widget_manager

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"  # how a notebook output refers to a live widget


def _show_in(output, figure: plt.Figure) -> None:
    """Replace what ``output`` shows with ``figure`` (closed afterwards, so the inline backend does not repeat it)."""
    from IPython.display import display

    output.clear_output(wait=True)
    with output:
        display(figure)
    plt.close(figure)


def _static_fallback(explorer, figure: plt.Figure, description: str) -> dict:
    """The display bundle: the live widget, plus the starting figure and a one-line text for readers without a kernel.

    A live notebook renders the widget. A stored notebook (GitHub, nbconvert, a JupyterLab that has not run the
    cell) has no widget state, so ``tlcourse run`` stores only the figure and the text; see ``cli._clean_metadata``.
    """
    from IPython.core.formatters import format_display_data

    bundle, _ = format_display_data(figure, include=("image/png",))
    bundle["text/plain"] = f"[interactive explorer: run this cell to move the {description} slider]"
    bundle[WIDGET_VIEW] = {"version_major": 2, "version_minor": 0, "model_id": explorer.model_id}
    return bundle


def slider_explorer(draw: Callable[[object], plt.Figure], values: Sequence, description: str, start=None):
    """One figure, ``draw(start)``, and a slider over ``values`` that redraws it in place; returns the slider."""
    import ipywidgets as widgets
    from IPython.display import display

    enable_widget_manager()
    start = values[0] if start is None else start
    output = widgets.Output()
    slider = widgets.SelectionSlider(options=list(values), value=start, description=description,
                                     continuous_update=False, style={"description_width": "initial"},
                                     layout=widgets.Layout(width="70%"))
    slider.observe(lambda change: _show_in(output, draw(change["new"])), names="value")
    explorer = widgets.VBox([widgets.HTML("<b>Interactive:</b> move the slider to redraw the figure."),
                             slider, output])
    figure = draw(start)
    bundle = _static_fallback(explorer, figure, description)
    _show_in(output, figure)
    display(bundle, raw=True)
    return slider


def temperature_explorer(logits: torch.Tensor, class_names: Sequence[str],
                         temperatures=(0.5, 1, 2, 4, 8, 16), start=1):
    """How dividing the logits by a temperature T reshapes the softmax (distillation's soft targets)."""
    logits = torch.as_tensor(logits, dtype=torch.float32)

    def draw(temperature):
        probs = torch.softmax(logits / temperature, dim=-1).numpy()
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(range(len(probs)), probs, color="tab:orange")
        ax.set_xticks(range(len(probs)), class_names)
        entropy = float(-(probs * np.log(probs + 1e-12)).sum())
        ax.set(ylim=(0, 1), ylabel="probability",
               title=f"softmax(logits / T) at T = {temperature}: entropy {entropy:.2f} nats")
        fig.tight_layout()
        return fig

    return slider_explorer(draw, list(temperatures), "temperature", start)


def sweep_explorer(xs: Sequence, series: dict[str, Sequence[float]], xlabel: str, details: dict | None = None,
                   start=None, title: str = ""):
    """Walk along a sweep the notebook measured: the curves with the chosen point highlighted.

    ``series``: name -> one value per x. ``details``: extra name -> values printed for the chosen x
    (e.g. trainable parameters, seconds per epoch).
    """
    xs = list(xs)

    def draw(x):
        i = xs.index(x)
        fig, ax = plt.subplots(figsize=(6.5, 3.6))
        positions = np.arange(len(xs))
        for name, values in series.items():
            ax.plot(positions, values, "-o", label=name)
            ax.scatter([i], [values[i]], s=160, facecolors="none", edgecolors="black", zorder=3)
        ax.set_xticks(positions, [str(v) for v in xs])
        facts = [f"{name} {values[i]:.3f}" for name, values in series.items()]
        facts += [f"{name} {values[i]:,}" if isinstance(values[i], int) else f"{name} {values[i]:.3g}"
                  for name, values in (details or {}).items()]
        ax.set(xlabel=xlabel, title=(title + "\n" if title else "") + f"{xlabel} = {x}: " + ", ".join(facts))
        ax.title.set_fontsize(9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        return fig

    return slider_explorer(draw, xs, xlabel, start if start is not None else xs[-1])
