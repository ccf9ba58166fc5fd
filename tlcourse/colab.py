"""Running the course on Google Colab: the notebooks' setup cell, the Colab badges, Colab's widget manager.

The repository's address and the tag learners install live here, once. Every notebook's first cell is
:data:`SETUP_CELL`, every Colab badge (README and notebooks) is :func:`badge_url`, and every notebook asks
Colab for a GPU runtime (:data:`COLAB_METADATA`). A teacher who publishes a fork runs one command,

    python -m tlcourse.colab --repository OWNER/NAME --tag TAG

which rewrites all of them; tests/test_colab.py checks that they agree.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from . import config

REPOSITORY = "tlcourse/tlcourse"  # owner/name on GitHub
TAG = "v0.1.0"  # the release learners install: a pinned tag, so a lesson and its package never drift apart
# What Colab itself writes when a notebook is saved from a T4 runtime: the badge then opens a GPU runtime.
COLAB_METADATA = {"accelerator": "GPU", "colab": {"gpuType": "T4", "provenance": []}}

# The cell tries three sources in order and stops, loudly, naming each one and why it failed: a failed
# %pip install prints its error and carries on, and the learner would only meet a ModuleNotFoundError later.


def install_source(repository: str = REPOSITORY, tag: str = TAG) -> str:
    """What pip installs from the repository: the course at its release tag."""
    return f"tlcourse @ git+https://github.com/{repository}@{tag}"


def setup_cell(repository: str = REPOSITORY, tag: str = TAG) -> str:
    """The first code cell of every notebook."""
    return f'''# Setup: install the course package when it is missing (Colab, a fresh environment). It tries, in order:
# an installed tlcourse; a wheel tlcourse-*.whl next to this notebook or in Drive's tlcourse folder (a teacher's
# build: `pip wheel --no-deps -w dist .`); the course's repository at its release tag.
# On a Colab GPU runtime the full profile is picked automatically.
try:
    import tlcourse
except ImportError:
    import glob
    import os
    import subprocess
    import sys

    def pip_install(source):
        env = {{**os.environ, "GIT_TERMINAL_PROMPT": "0"}}  # a missing repository fails instead of asking
        return subprocess.run([sys.executable, "-m", "pip", "install", "-q", source], capture_output=True,
                              text=True, env=env)

    places = [os.getcwd(), "/content", "/content/drive/MyDrive/tlcourse"]
    wheels = sorted({{w for place in places for w in glob.glob(os.path.join(place, "tlcourse-*.whl"))}})
    tried = ["an installed tlcourse: not found"]
    for source in wheels[-1:] + ["{install_source(repository, tag)}"]:
        pip = pip_install(source)
        if pip.returncode == 0:
            print("installed tlcourse from", source)
            break
        tried.append(f"pip install {{source}}: failed, pip said:\\n" + pip.stderr[-1500:])
    else:
        if not wheels:
            tried.insert(1, "a wheel tlcourse-*.whl in " + ", ".join(places) + ": none there")
        raise RuntimeError("Could not install the course package. Tried:\\n- " + "\\n- ".join(tried) + "\\nConnect "
                           "the runtime to the internet, or upload a tlcourse-*.whl next to this notebook.")
    import tlcourse

# On Colab, True keeps downloads, caches, saved runs and checkpoints on Google Drive: they survive a disconnect,
# and the notebooks (each on its own VM) share them.
KEEP_ON_DRIVE = False
if KEEP_ON_DRIVE:
    from tlcourse.colab import keep_data_on_drive

    keep_data_on_drive()'''


SETUP_CELL = setup_cell()


def badge_url(notebook: str, repository: str = REPOSITORY, tag: str = TAG) -> str:
    """The "Open in Colab" link of a notebook (its file name, e.g. ``03_freezing.ipynb``) at the release tag."""
    return f"https://colab.research.google.com/github/{repository}/blob/{tag}/notebooks/{notebook}"


BADGE_LINK = re.compile(r"https://colab\.research\.google\.com/github/[^/\s)]+/[^/\s)]+/blob/[^/\s)]+/notebooks/")


def _rewrite_text_file(path: Path, rewrite) -> Path | None:
    from .files import replace_atomically

    old = path.read_text() if path.exists() else None
    if old is None or rewrite(old) == old:
        return None
    return replace_atomically(path, lambda tmp: tmp.write_text(rewrite(old)))


def write_colab_links(root: Path, repository: str = REPOSITORY, tag: str = TAG) -> list[Path]:
    """Rewrite, from ``repository`` and ``tag``: this module's two settings (when ``root`` is a checkout),
    README's and every notebook's badges, every setup cell, and every notebook's Colab metadata. Returns the
    files changed; cell outputs are left as they are."""
    import nbformat

    from .files import replace_atomically

    def badges(text):
        return BADGE_LINK.sub(badge_url("", repository, tag), text)

    def settings(text):
        text = re.sub(r'^REPOSITORY = "[^"]*"', f'REPOSITORY = "{repository}"', text, flags=re.M)
        return re.sub(r'^TAG = "[^"]*"', f'TAG = "{tag}"', text, flags=re.M)

    changed = [_rewrite_text_file(root / "tlcourse" / "colab.py", settings), _rewrite_text_file(root / "README.md", badges)]
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        before = json.dumps(notebook, sort_keys=True)
        notebook.metadata.update(json.loads(json.dumps(COLAB_METADATA)))
        for cell in notebook.cells:
            if cell.cell_type == "code" and cell.source.startswith("# Setup: install the course package"):
                cell.source = setup_cell(repository, tag)
            elif cell.cell_type == "markdown":
                cell.source = badges(cell.source)
        if json.dumps(notebook, sort_keys=True) != before:
            changed.append(replace_atomically(path, lambda tmp: nbformat.write(notebook, tmp)))
    return [path for path in changed if path is not None]


def main(argv: list[str] | None = None) -> int:
    """``python -m tlcourse.colab --repository OWNER/NAME --tag TAG``: point the course at a fork's release."""
    parser = argparse.ArgumentParser(prog="python -m tlcourse.colab", description=main.__doc__)
    parser.add_argument("--repository", default=REPOSITORY, help="GitHub owner/name (default: %(default)s)")
    parser.add_argument("--tag", default=TAG, help="the tag or branch learners install (default: %(default)s)")
    parser.add_argument("--root", default=".", help="the course's folder (default: the current one)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repository):
        parser.error(f"--repository must look like owner/name, got {args.repository!r}")
    for path in write_colab_links(Path(args.root), args.repository, args.tag):
        print("rewrote", path)
    print(f"Commit, push, and create the tag {args.tag} on {args.repository}: the badges open it.")
    return 0


DRIVE_FOLDER = "/content/drive/MyDrive/tlcourse"


def keep_data_on_drive(folder: str | Path = DRIVE_FOLDER, mount_point: str = "/content/drive") -> Path | None:
    """Mount Google Drive and keep the course's data folder, the torch and Hugging Face download caches and the
    checkpoints in ``folder`` on it; return ``folder``. Call it before a lesson starts (the setup cell does).

    Each Colab notebook runs on its own VM, which a disconnect wipes: on Drive, CIFAR-10 and the models are
    downloaded once, the feature and run caches are shared across notebooks (02 and 06 reuse 01's and 04's
    runs) and survive a disconnect, so a re-run loads what finished instead of training it again. Outside
    Colab it does nothing: set ``TLCOURSE_DATA`` instead.
    """
    if not running_on_colab():
        print("keep_data_on_drive works only on Colab; elsewhere set TLCOURSE_DATA to the folder you want.")
        return None
    from google.colab import drive

    drive.mount(mount_point)
    folder = Path(folder)
    for variable, sub_folder in {config.DATA: "data", config.CHECKPOINTS: "checkpoints"}.items():
        (folder / sub_folder).mkdir(parents=True, exist_ok=True)
        config.put(variable, folder / sub_folder)
    for variable, sub_folder in {"TORCH_HOME": "torch", "HF_HOME": "huggingface"}.items():  # the libraries' own
        (folder / sub_folder).mkdir(parents=True, exist_ok=True)
        os.environ[variable] = str(folder / sub_folder)
    if "huggingface_hub" in sys.modules:
        print("Hugging Face was imported before keep_data_on_drive: restart the runtime and run the setup cell "
              "first, or its downloads stay on the VM.")
    print(f"The course keeps its data, downloads and checkpoints in {folder} on Google Drive.")
    return folder


def running_on_colab() -> bool:
    return "google.colab" in sys.modules


def enable_widget_manager() -> None:
    """Let Colab draw ipywidgets 8 sliders (Colab renders its own ipywidgets 7 without help).

    Does nothing outside Colab, so it is safe to call from every explorer.
    """
    if not running_on_colab():
        return
    import ipywidgets

    if int(ipywidgets.__version__.split(".")[0]) >= 8:
        from google.colab import output

        output.enable_custom_widget_manager()


if __name__ == "__main__":
    sys.exit(main())
