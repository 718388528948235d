"""Tests that drive Chromium: widgets on a blank page, the built website, and JupyterLab."""
