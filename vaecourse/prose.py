"""Numbers and claims in the prose come from the computation: ``quote`` and ``claim``.

A chapter never types a number about an executed result into its text, and never states a property of
an output that no code checks. Instead:

- ``quote(name, value, fmt)`` formats a result once. In the website build it is glued (myst-nb's
  ``glue``) so the text's ``{glue:text}`name``` shows the very string the computation made; in a
  notebook it prints ``name: value`` under the cell, and the notebook's text names ``name`` (the
  converter, scripts/plain_markdown.py, writes ``{glue:text}`name``` as `` `name` ``).
- ``claim(holds, statement)`` is an assertion about an output that the text makes ("the flow halves the
  amortisation gap"). A build whose claims fail stops (``ClaimError``, with the statement), so a page
  cannot publish a sentence its own table refutes. A claim that needs the full-size run says why it is
  not checked at smoke size, in the call (``unchecked_in_smoke="..."``).

The website build is recognised by ``VAECOURSE_BOOK_BUILD``, which the Sphinx extension
scripts/quoted_numbers.py sets before any chapter executes.
"""

from __future__ import annotations

from vaecourse import settings

BOOK_BUILD = "VAECOURSE_BOOK_BUILD"  # read by settings.in_book_build


class ClaimError(AssertionError):
    """A sentence of the text about an output that the output does not support."""


class Quoted(str):
    """A formatted number whose text form is itself (no quotes), for ``{glue:text}``."""

    def __repr__(self) -> str:
        return str(self)


in_book_build = settings.in_book_build


def quote(name: str, value, fmt: str = "{}") -> str:
    """Format ``value`` with ``fmt`` and make it the text's ``{glue:text}`name```; return the string.

    Chapter: every chapter from 4 on (the prose quotes its outputs through this). Raises ValueError for
    a name that is not a Python identifier (the notebook text shows the name as code).
    """
    if not name.isidentifier():
        raise ValueError(f"quote: the name {name!r} must be an identifier, e.g. 'gap_flow'")
    text = Quoted(fmt.format(value))
    if in_book_build():
        from myst_nb import glue

        glue(name, text, display=False)
    else:
        print(f"{name}: {text}")
    return text


def claim(holds, statement: str, *, unchecked_in_smoke: str | None = None) -> None:
    """Assert that the output shows what the text says: raise ClaimError with ``statement`` if not.

    ``holds`` is a bool (a NumPy or 0-d torch boolean is accepted). ``unchecked_in_smoke`` is the
    reason the claim is not asserted in the fast smoke run (VAECOURSE_SMOKE), where models are tiny;
    without it the claim is asserted in every mode.
    """
    if unchecked_in_smoke is not None and not unchecked_in_smoke.strip():
        raise ValueError("claim: unchecked_in_smoke must say why the smoke run cannot show the claim")
    if unchecked_in_smoke is not None and settings.is_smoke():
        return
    if not bool(holds):
        raise ClaimError(
            f"The text claims: {statement}. The output does not show it. Change the experiment "
            f"or the text (the chapter's claims are checked on every build)."
        )
