"""tlcourse: the companion package of the transfer-learning course.

One module per job: :mod:`~tlcourse.profiles` (quick/full switch, device),
:mod:`~tlcourse.assets` (where models and data come from), :mod:`~tlcourse.data` (the profile's data,
loaders), :mod:`~tlcourse.own_data` (your folder or CSV),
:mod:`~tlcourse.models`, :mod:`~tlcourse.recipe` (a run's settings as one value),
:mod:`~tlcourse.training` (``fit``/``evaluate``), :mod:`~tlcourse.callbacks` (what ``fit`` does at each event),
:mod:`~tlcourse.features`, :mod:`~tlcourse.plots`, :mod:`~tlcourse.lesson` (``setup``) and
:mod:`~tlcourse.results` (``record``).
"""

from .assets import ASSETS, AssetUnavailableError, asset_path, data_dir, get_asset
from .profiles import get_device, get_profile
from .lesson import Lesson, setup
from .results import record
from .recipe import Recipe
from .training import History, evaluate, fit, predict, seed_everything

__version__ = "0.1.0"

__all__ = [
    "ASSETS", "AssetUnavailableError", "History", "Lesson", "Recipe", "asset_path", "data_dir", "evaluate", "fit",
    "get_asset", "get_device", "get_profile", "predict", "record", "seed_everything", "setup",
]
