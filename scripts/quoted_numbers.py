"""Sphinx extension: tell the chapters that they run for the website (``VAECOURSE_BOOK_BUILD=1``).

``vaecourse.prose.quote`` then glues each quoted number (myst-nb ``glue``) for the text's
``{glue:text}`name``` instead of printing it, as it does in a notebook. The variable is set in this
process's environment in ``setup``, before myst-nb starts any kernel, so every kernel inherits it.

Enabled in _config.yml under sphinx.local_extensions.
"""

from __future__ import annotations

import os


def setup(app):
    from vaecourse.prose import BOOK_BUILD

    os.environ[BOOK_BUILD] = "1"
    return {"parallel_read_safe": True, "parallel_write_safe": True}
