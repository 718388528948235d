"""Sphinx extension: the bibliography's entries as WAI-ARIA list items, not the deprecated ``doc-biblioentry``.

docutils' HTML writer (``docutils.writers._html_base.HTMLTranslator.visit_citation``, docutils 0.21), which
Sphinx and so sphinxcontrib-bibtex's bibliography use, wraps the citations in ``<div role="list">`` and
gives each entry ``role="doc-biblioentry"``. DPUB-ARIA 1.1 deprecates that role; axe-core reports it
(``aria-deprecated-role``) and, not counting a deprecated role as a list item, finds the entries' links
directly inside the list (``aria-required-children``, critical). Here each entry is ``role="listitem"``:
a list of items that may hold links and back-links, as WAI-ARIA requires. Checked by
tests/browser/test_accessibility.py on the built bibliography page.

Enabled in _config.yml under sphinx.local_extensions.
"""

from __future__ import annotations

from docutils import nodes
from docutils.writers._html_base import HTMLTranslator


def visit_citation(self, node: nodes.citation) -> None:
    """Open the list before the first of consecutive citations, then the entry as a list item."""
    if not isinstance(node.previous_sibling(), type(node)):
        self.body.append('<div role="list" class="citation-list">\n')
    self.body.append(self.starttag(node, "div", classes=[node.tagname], role="listitem"))


def setup(app):
    app.add_node(nodes.citation, override=True, html=(visit_citation, HTMLTranslator.depart_citation))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
