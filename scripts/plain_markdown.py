"""MyST Markdown to the plain Markdown that JupyterLab, Colab and GitHub render with no extension.

The website (book/) keeps MyST; the student notebooks (notebooks/) get this translation, made by
scripts/chapters.py when `make notebooks` writes them. MyST's own parser (myst-parser's markdown-it
configuration, the one Sphinx reads the book with) finds the directives, roles, labels and labelled
maths; each directive and each role then has one small rule in a table:

- exercises become "**Exercise N**" blockquotes followed by an answer cell (a code cell tagged
  ``answer`` in the chapter, or else an empty Markdown cell for a written answer), their solutions
  ``<details>`` blocks;
- theorems and propositions "**Theorem N** (title)" blockquotes, proofs "*Proof.* ... ∎";
- admonitions (note, tip, warning, ...) blockquotes headed by their kind;
- ``{cite:p}`` / ``{cite:t}`` author-year text from references.bib ("(Kingma and Welling, 2013)"),
  and a closing References cell with the full entries;
- ``{eq}`` the equation's number, ``(3)``, with ``\\tag{3}`` written into its display maths; a link
  on the number, ``[(3)](other.ipynb)``, when the equation lives in another chapter;
- ``{doc}``, ``{ref}``, ``{numref}``, ``{prf:ref}`` readable text, linked to the heading or the other
  notebook they point to;
- ``{literalinclude}`` the included source as a fenced code block;
- labels ``(name)=`` removed; maths kept as it is.

Everything else is copied from the source line for line. Numbers count per chapter in the order of
appearance, prefixed by the chapter's number, as the website numbers them ("(3.2)", "Exercise 10.1",
"Theorem 3.1", "Figure 9.1").
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ADMONITIONS = {
    "note": "Note",
    "tip": "Tip",
    "hint": "Hint",
    "important": "Important",
    "warning": "Warning",
    "caution": "Caution",
    "attention": "Attention",
    "danger": "Danger",
    "error": "Error",
    "seealso": "See also",
    "admonition": "",
}
PROOF_KINDS = {
    "theorem": "Theorem",
    "proposition": "Proposition",
    "lemma": "Lemma",
    "corollary": "Corollary",
    "definition": "Definition",
    "remark": "Remark",
    "example": "Example",
    "conjecture": "Conjecture",
    "axiom": "Axiom",
    "criterion": "Criterion",
    "property": "Property",
    "observation": "Observation",
    "assumption": "Assumption",
    "algorithm": "Algorithm",
}
# The line after each exercise where the notebook's answer cell goes (an HTML comment: invisible if kept).
ANSWER_MARK = "<!-- answer -->"
# Directives whose body is not Markdown: never searched for nested directives or labels.
LITERAL_DIRECTIVES = {"literalinclude", "math", "code-block", "code", "code-cell", "include", "glossary"}
# Where a role sits in the text; the parser decides which of these places are roles (not inline code).
ROLE_TEXT = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<content>[^`]+)`")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")


# ---------------------------------------------------------------------------------------------------
# Parsing: MyST's markdown-it parser, with the book's extensions (_config.yml, parse:)
# ---------------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _parser():
    from markdown_it.renderer import RendererHTML
    from myst_parser.config.main import MdParserConfig
    from myst_parser.parsers.mdit import create_md_parser

    config = MdParserConfig(enable_extensions={"amsmath", "colon_fence", "deflist", "dollarmath"})
    return create_md_parser(config, RendererHTML)


@dataclass
class Directive:
    name: str  # "exercise", "prf:theorem"
    arg: str  # the text after the name on the opening line
    options: dict[str, str]
    body: list[str]  # the lines after the options


@dataclass
class Block:
    """One top-level block of Markdown: its source lines and what the parser found in it."""

    kind: str  # "directive", "target", "math", "heading", "paragraph", "text" (anything else), "gap"
    lines: list[str]
    roles: list[tuple[str, str]] = field(default_factory=list)  # (name, content), in order
    directive: Directive | None = None
    label: str = ""  # of a target or of labelled maths


def _directive(info: str, content: str) -> Directive | None:
    """A fence ``{name} arg`` with ``:key: value`` option lines first: the directive, else None."""
    match = re.fullmatch(r"\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)", info.strip())
    if not match:
        return None
    lines, options = content.splitlines(), {}
    while lines and OPTION.match(lines[0].strip()):
        option = OPTION.match(lines.pop(0).strip())
        options[option["key"]] = option["value"]
    while lines and not lines[0].strip():
        lines.pop(0)
    return Directive(match["name"], match["arg"].strip(), options, lines)


def _block(token, lines: list[str]) -> Block:
    start, end = token.map
    if token.type in {"fence", "colon_fence"}:
        directive = _directive(token.info, token.content)
        if directive:
            return Block("directive", lines[start:end], directive=directive)
    if token.type == "myst_target":
        return Block("target", lines[start:end], label=token.content)
    if token.type == "math_block_label":
        return Block("math", lines[start:end], label=token.info)
    if token.type == "amsmath":  # its map stops a line short of \end{...}
        end = start + token.content.count("\n") + 1
    kind = {"heading_open": "heading", "paragraph_open": "paragraph"}.get(token.type, "text")
    return Block(kind, lines[start:end])


def blocks(markdown: str) -> Iterator[Block]:
    """The top-level blocks of `markdown` in order, with the lines between them as "gap" blocks, so that
    joining every block's lines gives `markdown` back."""
    lines = markdown.splitlines()
    position, current = 0, None
    for token in _parser().parse(markdown):
        if token.level == 0 and token.map is not None:
            if current is not None:
                yield current
            start = token.map[0]
            if start > position:
                yield Block("gap", lines[position:start])
            current = _block(token, lines)
            position = start + len(current.lines)
        elif token.type == "inline" and current is not None:
            current.roles += [(t.meta["name"], t.content) for t in token.children or [] if t.type == "myst_role"]
    if current is not None:
        yield current
    if position < len(lines):
        yield Block("gap", lines[position:])


def inline_roles(text: str) -> list[tuple[str, str]]:
    """The roles of one line of inline text (a directive's argument, a caption), in order."""
    return [
        (t.meta["name"], t.content)
        for token in _parser().parseInline(text)
        for t in token.children or []
        if t.type == "myst_role"
    ]


def replace_roles(text: str, roles: list[tuple[str, str]], render: Callable[[str, str], str]) -> str:
    """`text` with each of `roles` (in order, as the parser found them) replaced by render(name, content);
    role-like text the parser did not take as a role (in inline code) stays."""
    pending = list(roles)

    def one(match: re.Match) -> str:
        if pending and (match["name"], match["content"]) == pending[0]:
            pending.pop(0)
            return render(match["name"], match["content"])
        return match[0]

    return ROLE_TEXT.sub(one, text)


def heading_text(block: Block) -> str:
    return re.sub(r"^#{1,6}\s+|\s+#*\s*$", "", block.lines[0].strip())


def _split_target(content: str) -> tuple[str | None, str]:
    """``text <target>`` -> (text, target); ``target`` -> (None, target)."""
    match = re.fullmatch(r"(?s)(.*?)\s*<([^<>]+)>", content.strip())
    if match and match.group(1):
        return match.group(1), match.group(2).strip()
    return None, content.strip()


def _anchor(heading: str) -> str:
    """The id JupyterLab gives a heading: its text with spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading)
    return "#" + text.strip().replace(" ", "-")


# ---------------------------------------------------------------------------------------------------
# The bibliography
# ---------------------------------------------------------------------------------------------------


def _latex_to_text(text: str) -> str:
    text = re.sub(r"\\[a-zA-Z]+\{([^{}]*)\}", r"\1", text)  # \emph{x} -> x
    text = text.replace("--", "\u2013").replace("~", " ")
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("{", "").replace("}", "")


@dataclass
class Reference:
    key: str
    last_names: list[str]
    year: str
    entry: str  # the full entry, one line of Markdown

    def cite_names(self) -> str:
        names = self.last_names
        if len(names) == 1:
            return names[0]
        if len(names) == 2:
            return f"{names[0]} and {names[1]}"
        return f"{names[0]} et al."


def _entry(authors: str, fields: dict[str, str], key: str) -> str:
    """One bibliography entry as a line of Markdown: authors (year). *Title*. Venue, volume(number),
    pages. A link (arXiv, DOI or URL). A note."""
    year = fields.get("year", "n.d.")
    venue = fields.get("journal") or fields.get("booktitle") or fields.get("howpublished") or fields.get("publisher")
    parts = [f"{authors} ({year}).", f"*{fields.get('title', key)}*."]
    if venue:
        volume = fields.get("volume", "") + (
            f"({fields['number']})" if fields.get("volume") and fields.get("number") else ""
        )
        parts.append(", ".join(part for part in (venue, volume, fields.get("pages", "")) if part) + ".")
    links = (
        ("eprint", "[arXiv:{}](https://arxiv.org/abs/{})."),
        ("doi", "[doi:{}](https://doi.org/{})."),
        ("url", "<{}>."),
    )
    link = next((form.format(fields[name], fields[name]) for name, form in links if fields.get(name)), None)
    parts += [link] if link else []
    if fields.get("note") and not fields.get("eprint"):
        parts.append(fields["note"] + ".")
    return " ".join(parts)


def read_bibliography(path: Path) -> dict[str, Reference]:
    """Every entry of a BibTeX file, with author-year citation text and a one-line full entry."""
    from pybtex.database import parse_file

    refs = {}
    for key, item in parse_file(str(path)).entries.items():
        people = item.persons.get("author", []) or item.persons.get("editor", [])
        last = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        first = [_latex_to_text(" ".join(p.first_names + p.middle_names)) for p in people]
        names = zip(last, first, strict=True)
        authors = " and ".join(f"{lastname}, {firstname}".strip(", ") for lastname, firstname in names)
        fields = {name.lower(): _latex_to_text(value) for name, value in item.fields.items()}
        refs[key] = Reference(key, last or [key], fields.get("year", "n.d."), _entry(authors, fields, key))
    return refs


# ---------------------------------------------------------------------------------------------------
# What one chapter defines (labels, numbers, titles): collected first, so references can point forward
# and into other chapters
# ---------------------------------------------------------------------------------------------------


@dataclass
class Target:
    text: str  # how a reference shows it: "(3.1)", "Exercise 3.2", "Theorem 3.1"
    anchor: str = ""  # "#Heading" within the chapter, where one exists


@dataclass
class Chapter:
    name: str  # "elbo"
    title: str
    prefix: str = ""  # "4." in a numbered chapter 4: the website's numbers are "(4.1)", "Exercise 4.2"
    targets: dict[str, Target] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> str:
        """The next number of `kind` ("eq", "Exercise", "Theorem", "Figure"): "3.2"."""
        self.counters[kind] = self.counters.get(kind, 0) + 1
        return f"{self.prefix}{self.counters[kind]}"


def walk(markdown: str) -> Iterator[Block]:
    """Every block of `markdown` in document order, the blocks inside directives (nested) too."""
    for block in blocks(markdown):
        yield block
        if block.directive and block.directive.name not in LITERAL_DIRECTIVES:
            yield from walk("\n".join(block.directive.body))


def _numbered_directive(chapter: Chapter, directive: Directive) -> None:
    """Number an exercise, theorem (...) or figure, and remember its label."""
    name, options = directive.name, directive.options
    shown = {"exercise": "Exercise", "figure": "Figure", "table": "Table"}.get(name)
    if name.startswith("prf:"):
        shown = PROOF_KINDS.get(name[4:])
    if name == "math" and "label" in options:
        chapter.targets[options["label"]] = Target(f"({chapter.count('eq')})")
    elif shown:
        number = chapter.count(shown)
        label = options.get("name" if name in {"figure", "table"} else "label")
        if label:  # referred to by kind and number, as on the website
            chapter.targets[label] = Target(f"{shown} {number}")


def scan_chapter(name: str, cells: list[tuple[str, str, dict]], number: int | None = None) -> Chapter:
    """Number the chapter's equations, exercises, theorems and figures (``number.k`` in a numbered
    chapter, as the website does), and find its labels' titles. ``cells``: (cell_type, source, metadata)
    in notebook order; a code cell's myst-nb figure caption is a figure."""
    chapter = Chapter(name, name, f"{number}." if number is not None else "")
    previous = None
    for kind, source, metadata in cells:
        if kind != "markdown":
            figure = (metadata.get("mystnb") or {}).get("figure") or {}
            if figure.get("name"):
                chapter.targets[figure["name"]] = Target(f"Figure {chapter.count('Figure')}")
            continue
        for block in walk(source):
            if block.kind == "heading" and previous is not None and previous.kind == "target":
                chapter.targets[previous.label] = Target(heading_text(block), _anchor(heading_text(block)))
            if block.kind == "heading" and block.lines[0].startswith("# ") and chapter.title == name:
                chapter.title = heading_text(block)
            if block.kind == "math":
                chapter.targets[block.label] = Target(f"({chapter.count('eq')})")
            if block.directive:
                _numbered_directive(chapter, block.directive)
            previous = block if block.kind != "gap" else previous
    return chapter


# ---------------------------------------------------------------------------------------------------
# The translation: one rule per role, one per directive
# ---------------------------------------------------------------------------------------------------


class Translator:
    """Translate the markdown cells of one chapter; `book` maps every chapter name to its Chapter."""

    def __init__(
        self,
        chapter: Chapter,
        book: dict[str, Chapter],
        references: dict[str, Reference],
        source_dir: Path,
        pages: dict[str, tuple[str, str]] | None = None,
    ):
        self.chapter, self.book, self.references = chapter, book, references
        self.pages = pages or {}  # pages that are not notebooks (notation, glossary): (title, url)
        self.source_dir = source_dir
        self.cited: list[str] = []  # keys, in order of first citation
        self.numbers = Chapter(chapter.name, chapter.title, chapter.prefix)  # exercises, theorems so far

    def find(self, label: str) -> tuple[Chapter | None, Target | None]:
        """The chapter that defines `label` (this one first) and its target; (None, None) if none does."""
        for chapter in (self.chapter, *self.book.values()):
            if label in chapter.targets:
                return chapter, chapter.targets[label]
        return None, None

    def link(self, shown: str, chapter: Chapter, target: Target) -> str:
        """`shown` as a link: to the heading within this chapter, to the notebook of another chapter."""
        if chapter is not self.chapter:
            return f"[{shown}]({chapter.name}.ipynb)"
        return f"[{shown}]({target.anchor})" if target.anchor else shown

    def role(self, name: str, content: str) -> str:
        rule = ROLES.get(name) or (role_code if name.startswith("py:") else role_text)
        return rule(self, content, name)

    def inline(self, text: str) -> str:
        return replace_roles(text, inline_roles(text), self.role)

    def block(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        after_label = False
        for block in blocks("\n".join(lines)):
            if after_label and block.kind == "gap" and out[-1:] in ([], [""]):
                block.lines = block.lines[1:]  # no double blank line where a label was
            after_label = block.kind == "target"
            if after_label:
                continue
            if block.kind == "gap":
                out += block.lines
            elif block.kind == "math":
                found = self.chapter.targets.get(block.label)
                tag = [rf"\tag{{{found.text.strip('()')}}}"] if found else []
                out += [*block.lines[:-1], *tag, "$$"]
            elif block.directive:
                rule = DIRECTIVES.get(block.directive.name) or (
                    directive_statement if block.directive.name[4:] in PROOF_KINDS else directive_other
                )
                out += rule(self, block.directive)
            else:
                out += replace_roles("\n".join(block.lines), block.roles, self.role).split("\n")
        return out

    def translate(self, markdown: str) -> str:
        return "\n".join(self.block(markdown.splitlines())).strip("\n")

    def references_cell(self) -> str | None:
        """A closing "References" cell with the full entries of the works this chapter cited."""
        if not self.cited:
            return None
        entries = sorted((self.references[key] for key in self.cited), key=lambda r: (r.last_names, r.year))
        return "## References\n\n" + "\n".join(f"- {ref.entry}" for ref in entries)


# --- roles: rule(translator, content, name) -> Markdown ---------------------------------------------


def _cite(tr: Translator, keys: str, textual: bool) -> str:
    shown = []
    for key in [k.strip() for k in keys.split(",") if k.strip()]:
        ref = tr.references.get(key)
        if ref is None:
            shown.append(key)
            continue
        if key not in tr.cited:
            tr.cited.append(key)
        shown.append(f"{ref.cite_names()} ({ref.year})" if textual else f"{ref.cite_names()}, {ref.year}")
    return "; ".join(shown) if textual else "(" + "; ".join(shown) + ")"


def role_cite_parenthetical(tr: Translator, content: str, name: str) -> str:
    """``{cite:p}`a,b` `` -> "(Author, 2013; Other et al., 2016)"."""
    return _cite(tr, content, textual=False)


def role_cite_textual(tr: Translator, content: str, name: str) -> str:
    """``{cite:t}`a` `` -> "Author and Other (2013)"."""
    return _cite(tr, content, textual=True)


def role_math(tr: Translator, content: str, name: str) -> str:
    return f"${content}$"


def role_eq(tr: Translator, content: str, name: str) -> str:
    """``{eq}`label` `` -> "(3.2)"; in another chapter a link on the number, "[(5.5)](sgd.ipynb)"."""
    chapter, found = tr.find(_split_target(content)[1])
    if found is None:
        return f"({_split_target(content)[1]})"
    return found.text if chapter is tr.chapter else tr.link(found.text, chapter, found)


def role_doc(tr: Translator, content: str, name: str) -> str:
    """A chapter's title linked to its notebook; a page that is no notebook linked where it lives."""
    text, target = _split_target(content)
    doc = target.split("/")[-1].removesuffix(".md")
    chapter = tr.book.get(doc)
    if chapter is None and doc in tr.pages:
        title, url = tr.pages[doc]
        return f"[{text or title}]({url})"
    if chapter is None:
        return f"*{text or doc.replace('_', ' ')}* (on the course website)"
    return f"[{text or chapter.title}]({doc}.ipynb)"


def role_ref(tr: Translator, content: str, name: str) -> str:
    """``{ref}``, ``{numref}``, ``{prf:ref}``: the target's title or "Kind N" (``%s`` in a numref's text is
    the number), linked to its heading or to the notebook of another chapter."""
    text, target = _split_target(content)
    chapter, found = tr.find(target)
    if found is None:
        return text or target
    if name == "numref" and text and "%s" in text:
        shown = text.replace("%s", found.text.split()[-1])
    else:
        shown = text or found.text
    return tr.link(shown, chapter, found)


def role_code(tr: Translator, content: str, name: str) -> str:
    """``{func}`~a.b` `` -> `` `a.b` ``."""
    text, target = _split_target(content)
    return f"`{(text or target).lstrip('~')}`"


def role_glue(tr: Translator, content: str, name: str) -> str:
    """``{glue:text}`gap_flow` `` -> `` `gap_flow` ``: in a notebook, vaecourse.prose.quote prints
    ``gap_flow: 14.4`` under the cell that computed it, so the text names the number it quotes."""
    return f"`{content.split(':')[0].strip()}`"


def role_text(tr: Translator, content: str, name: str) -> str:
    """Any other role (term, abbr, download, ...): its text."""
    text, target = _split_target(content)
    return text or target


ROLES: dict[str, Callable[[Translator, str, str], str]] = {
    **dict.fromkeys(("cite:p", "cite:ps", "cite", "cite:alp"), role_cite_parenthetical),
    **dict.fromkeys(("cite:t", "cite:ts", "cite:author"), role_cite_textual),
    "math": role_math,
    **dict.fromkeys(("glue", "glue:", "glue:any", "glue:text", "glue:md"), role_glue),
    "eq": role_eq,
    "doc": role_doc,
    **dict.fromkeys(("ref", "numref", "prf:ref"), role_ref),
    **dict.fromkeys(("func", "class", "meth", "mod", "attr", "obj", "data", "exc"), role_code),
}


# --- directives: rule(translator, directive) -> lines of Markdown -----------------------------------


def _dropdown(directive: Directive) -> bool:
    return "dropdown" in directive.options.get("class", "").split()


def directive_literalinclude(tr: Translator, directive: Directive) -> list[str]:
    """The included file (``:pyobject:``, ``:start-after:``, ``:end-before:``, ``:lines:``) as a fenced
    code block."""
    options = directive.options
    path = (tr.source_dir / directive.arg).resolve()
    source = path.read_text()
    if "pyobject" in options:
        source = _python_object(source, options["pyobject"])
    if "start-after" in options:
        source = source.split(options["start-after"], 1)[1].split("\n", 1)[-1]
    if "end-before" in options:
        source = source.split(options["end-before"], 1)[0]
    if "lines" in options:
        keep = _line_numbers(options["lines"], len(source.splitlines()))
        source = "\n".join(line for i, line in enumerate(source.splitlines(), 1) if i in keep)
    language = options.get("language", "python" if path.suffix == ".py" else "")
    return [f"```{language}", *source.rstrip("\n").splitlines(), "```"]


def directive_math(tr: Translator, directive: Directive) -> list[str]:
    """Display maths, with its number as ``\\tag`` when labelled."""
    found = tr.chapter.targets.get(directive.options.get("label", ""))
    return ["$$", *directive.body, *([rf"\tag{{{found.text.strip('()')}}}"] if found else []), "$$"]


def directive_exercise(tr: Translator, directive: Directive) -> list[str]:
    """A blockquote headed "**Exercise N** (title)", then the ANSWER_MARK line, where the notebook's
    answer cell goes (scripts/chapters.py splits the cell there)."""
    heading = f"**Exercise {tr.numbers.count('Exercise')}**"
    heading += f" ({tr.inline(directive.arg)})" if directive.arg else ""
    return [*_quote([heading, "", *tr.block(directive.body)]), "", ANSWER_MARK]


def directive_solution(tr: Translator, directive: Directive) -> list[str]:
    """ "Solution to Exercise N", folded (``<details>``) when the website folds it."""
    _, found = tr.find(directive.arg)
    heading = f"Solution to {found.text}" if found else "Solution"
    inner = tr.block(directive.body)
    return _details(heading, inner) if _dropdown(directive) else [f"**{heading}.**", "", *inner]


def directive_proof(tr: Translator, directive: Directive) -> list[str]:
    """ "*Proof.* ... ∎", folded when the website folds it."""
    body = _end_with(tr.block(directive.body), "\u220e")
    if _dropdown(directive):
        return _details("Proof", body)
    if body and _starts_with_text(body):
        return [f"*Proof.* {body[0]}", *body[1:]]
    return ["*Proof.*", "", *body]


def directive_statement(tr: Translator, directive: Directive) -> list[str]:
    """A theorem, proposition (...): a blockquote headed "**Theorem N** (title)"."""
    kind = PROOF_KINDS[directive.name[4:]]
    heading = f"**{kind} {tr.numbers.count(kind)}**" + (f" ({tr.inline(directive.arg)})" if directive.arg else "")
    return _quote([heading, "", *tr.block(directive.body)])


def directive_admonition(tr: Translator, directive: Directive) -> list[str]:
    """A blockquote headed by the kind ("**Note.**") or the title; folded when the website folds it."""
    title = tr.inline(directive.arg) if directive.name == "admonition" else ADMONITIONS[directive.name]
    inner = tr.block(directive.body)
    if _dropdown(directive):
        return _details(title, inner)
    return _quote([f"**{title}.**" if title else "", "", *inner])


def directive_figure(tr: Translator, directive: Directive) -> list[str]:
    return [f"![{directive.options.get('alt', '')}](../book/{directive.arg})", "", *tr.block(directive.body)]


def directive_dropped(tr: Translator, directive: Directive) -> list[str]:
    return []


def directive_other(tr: Translator, directive: Directive) -> list[str]:
    """Any other directive: its body, headed by its argument when it has one."""
    return ([f"**{tr.inline(directive.arg)}**", ""] if directive.arg else []) + tr.block(directive.body)


DIRECTIVES: dict[str, Callable[[Translator, Directive], list[str]]] = {
    "literalinclude": directive_literalinclude,
    "math": directive_math,
    "exercise": directive_exercise,
    "solution": directive_solution,
    "prf:proof": directive_proof,
    **dict.fromkeys(ADMONITIONS, directive_admonition),
    **dict.fromkeys(("figure", "image"), directive_figure),
    **dict.fromkeys(("bibliography", "tableofcontents"), directive_dropped),
}


# --- layout helpers ---------------------------------------------------------------------------------


def _starts_with_text(lines: list[str]) -> bool:
    """The lines open with a paragraph of running text (not maths, code, a list, a table, HTML)."""
    first = next(blocks("\n".join(lines)), None)
    return first is not None and first.kind == "paragraph"


def _end_with(lines: list[str], mark: str) -> list[str]:
    """lines with mark at the end of their last paragraph, or on a line of its own after maths/code."""
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    last = [block for block in blocks("\n".join(lines)) if block.kind != "gap"][-1:]
    if last and last[0].kind == "paragraph" and not lines[-1].lstrip().startswith(("$$", "\\end")):
        return lines[:-1] + [f"{lines[-1]} {mark}"]
    return lines + ["", mark]


DISPLAY_MATHS = re.compile(r"(?ms)^[ \t]*(\$\$.*?\$\$|\\begin\{([\w*]+)\}.*?\\end\{\2\})[^\n]*$")


def _quote(lines: list[str]) -> list[str]:
    """A Markdown blockquote. Display maths goes on one line: JupyterLab takes the maths out before it
    reads the Markdown, so a "> " on a continuation line would become part of the formula."""
    text = DISPLAY_MATHS.sub(
        lambda m: " ".join(line.strip() for line in m[0].splitlines() if line.strip()), "\n".join(lines)
    )
    return [("> " + line).rstrip() for line in text.split("\n")]


def _details(summary: str, lines: list[str]) -> list[str]:
    return [f"<details><summary><b>{summary}</b></summary>", "", *lines, "", "</details>"]


def _line_numbers(spec: str, n: int) -> set[int]:
    keep = set()
    for part in spec.split(","):
        if "-" in part:
            start, stop = part.split("-")
            keep.update(range(int(start or 1), int(stop or n) + 1))
        else:
            keep.add(int(part))
    return keep


def _python_object(source: str, dotted: str) -> str:
    """The source lines of a class, function or method named `dotted` (as literalinclude's :pyobject:)."""
    nodes = ast.parse(source).body
    node = None
    for part in dotted.split("."):
        node = next(
            n for n in nodes if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == part
        )
        nodes = node.body
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1 : node.end_lineno])
