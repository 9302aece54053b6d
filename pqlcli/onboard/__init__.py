"""Getting started: ``init_project`` (a starter config, plain or guessed from your exports, and a workspace).

``pqlcli.workspace.doctor`` holds the data-quality checks a user runs before trusting a first score.
"""

from pqlcli.onboard.detect import DetectedFile, detect_exports, detect_file
from pqlcli.onboard.project import InitResult, init_project, starter_config

__all__ = ["DetectedFile", "InitResult", "detect_exports", "detect_file", "init_project", "starter_config"]
