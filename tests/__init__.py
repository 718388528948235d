"""The package tests (pytest); each folder mirrors a part of the package or the repository."""
