"""Every test, and every notebook nbval runs, uses the offline quick profile without progress bars."""

import os

os.environ.setdefault("TLCOURSE_PROFILE", "quick")
os.environ.setdefault("TLCOURSE_PROGRESS", "0")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
