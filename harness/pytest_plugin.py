"""The former path of :mod:`harness.testing.plugin` (the ``pytest11`` entry point before the
one-package-per-fake layout, still named by environments installed before it).

``import harness.pytest_plugin`` gives :mod:`harness.testing.plugin` itself, not a copy, so
pytest never registers the plugin's hooks and fixtures twice: once this file has run, the
import statement returns what ``sys.modules`` holds for the name.
"""

import sys

from harness.testing import plugin

sys.modules[__name__] = plugin
