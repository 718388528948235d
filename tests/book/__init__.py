"""Tests of the book and the repository: the built pages, the notebooks, the references, the release."""
