"""Interactive explorers (ipywidgets sliders) with a static fallback.

Each explorer first shows an ordinary matplotlib figure for its starting value:
that is what GitHub, nbviewer and the course report show. In a live notebook
(Jupyter, Colab) a slider follows it and redraws the figure as you move it.
"""

from __future__ import annotations

from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch


def slider_explorer(draw: Callable[[object], plt.Figure], values: Sequence, description: str, start=None):
    """Show ``draw(start)`` as a static figure, then a slider over ``values`` that redraws it."""
    import ipywidgets as widgets
    from IPython.display import display

    start = values[0] if start is None else start
    figure = draw(start)
    display(figure)
    plt.close(figure)
    output = widgets.Output()
    slider = widgets.SelectionSlider(options=list(values), value=start, description=description,
                                     continuous_update=False, layout=widgets.Layout(width="60%"))

    def redraw(change):
        with output:
            output.clear_output(wait=True)
            fig = draw(change["new"])
            display(fig)
            plt.close(fig)

    slider.observe(redraw, names="value")
    display(widgets.VBox([widgets.HTML("<b>Interactive:</b> move the slider to redraw the figure above."),
                          slider, output]))
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

    return slider_explorer(draw, xs, xlabel[:12], start if start is not None else xs[-1])
