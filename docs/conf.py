"""Sphinx configuration: MyST Markdown pages, the tutorial notebook with its stored outputs, furo (s3prl's stack)."""
from __future__ import annotations

project = "audio-distilbert"
author = "The audio-distilbert developers"
copyright = "2026, the audio-distilbert developers"

extensions = [
    "myst_nb",  # Markdown (MyST) pages and notebooks
    "sphinx.ext.autodoc",
    "sphinxarg.ext",  # the command line, from its argparse parsers
]
nb_execution_mode = "off"  # the tutorial is shown with the outputs stored in it, not run at build time
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
html_theme = "furo"
html_title = "audio-distilbert"
exclude_patterns = ["_build"]
suppress_warnings = ["myst.header"]  # Markdown sections that start at ### inside a page
