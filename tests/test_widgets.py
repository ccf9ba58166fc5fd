"""Explorers as the notebooks store them, and their sliders' labels (the browser test covers them live)."""

import nbformat
from nbclient import NotebookClient

from tlcourse import widgets
from tlcourse.cli import _clean_metadata

EXPLORER = ("import torch\nfrom tlcourse import widgets\n"
            "widgets.temperature_explorer(torch.tensor([3.0, 1.5, 0.5]), ['cat', 'dog', 'fox'], start=2);")


def test_stored_explorer_is_one_figure_and_a_line_of_text(monkeypatch):
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline, as in a learner's notebook
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(EXPLORER)])
    NotebookClient(notebook, kernel_name="python3").execute()
    _clean_metadata(notebook)
    [output] = notebook.cells[0].outputs
    assert set(output.data) == {"image/png", "text/plain"}
    assert output.data["text/plain"] == "[interactive explorer: run this cell to move the temperature slider]"
    assert "widgets" not in notebook.metadata
    assert notebook.metadata.kernelspec.name == "python3" and notebook.metadata.language_info.version


def test_sweep_explorer_labels_its_slider_with_the_whole_name():
    slider = widgets.sweep_explorer([0, 1, 2], {"accuracy": [0.5, 0.6, 0.7]}, xlabel="trained blocks k")
    assert slider.description == "trained blocks k"
    assert slider.style.description_width == "initial"  # as wide as the label needs
