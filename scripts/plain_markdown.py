"""MyST Markdown to the plain Markdown that JupyterLab, Colab and GitHub render with no extension.

The website (book/) keeps MyST; the student notebooks (notebooks/) get this translation, made by
scripts/chapters.py when `make notebooks` writes them:

- exercises become "**Exercise N**" blockquotes, their solutions ``<details>`` blocks;
- theorems and propositions "**Theorem N** (title)" blockquotes, proofs "*Proof.* ... ∎";
- admonitions (note, tip, warning, ...) blockquotes headed by their kind;
- ``{cite:p}`` / ``{cite:t}`` author-year text from references.bib ("(Kingma and Welling, 2013)"),
  and a closing References cell with the full entries;
- ``{eq}`` the equation's number, ``(3)``, with ``\\tag{3}`` written into its display maths, and
  "(3) in <chapter>" with a link when the equation lives in another chapter;
- ``{doc}``, ``{ref}``, ``{numref}``, ``{prf:ref}`` readable text (and links to other notebooks);
- ``{literalinclude}`` the included source as a fenced code block;
- labels ``(name)=`` removed; maths kept as it is.

Numbers count per chapter in the order of appearance, prefixed by the chapter's number, as the website
numbers them ("(3.2)", "Exercise 10.1", "Theorem 3.1", "Figure 9.1").
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

ADMONITIONS = {
    "note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
    "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
    "seealso": "See also", "admonition": "",
}
PROOF_KINDS = {
    "theorem": "Theorem", "proposition": "Proposition", "lemma": "Lemma", "corollary": "Corollary",
    "definition": "Definition", "remark": "Remark", "example": "Example", "conjecture": "Conjecture",
    "axiom": "Axiom", "criterion": "Criterion", "property": "Property", "observation": "Observation",
    "assumption": "Assumption", "algorithm": "Algorithm",
}

FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>:{3,}|`{3,})\{(?P<name>[\w:-]+)\}\s*(?P<arg>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")
LABEL_LINE = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
MATH_LABEL = re.compile(r"^\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
ROLE = re.compile(r"\{(?P<name>[\w:+-]+)\}`(?P<content>[^`]+)`")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


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


def read_bibliography(path: Path) -> dict[str, Reference]:
    """Every entry of a BibTeX file, with author-year citation text and a one-line full entry."""
    from pybtex.database import parse_file

    refs = {}
    for key, item in parse_file(str(path)).entries.items():
        people = item.persons.get("author", []) or item.persons.get("editor", [])
        last = [_latex_to_text(" ".join(p.prelast_names + p.last_names)) for p in people]
        firsts = [
            _latex_to_text(" ".join(p.first_names + p.middle_names)) for p in people
        ]
        authors = " and ".join(f"{l}, {f}".strip(", ") for l, f in zip(last, firsts))
        f = {name.lower(): _latex_to_text(value) for name, value in item.fields.items()}
        year = f.get("year", "n.d.")
        venue = f.get("journal") or f.get("booktitle") or f.get("howpublished") or f.get("publisher", "")
        parts = [f"{authors} ({year}).", f"*{f.get('title', key)}*."]
        if venue:
            details = venue
            if f.get("volume"):
                details += f", {f['volume']}" + (f"({f['number']})" if f.get("number") else "")
            if f.get("pages"):
                details += f", {f['pages']}"
            parts.append(details + ".")
        if f.get("eprint"):
            parts.append(f"[arXiv:{f['eprint']}](https://arxiv.org/abs/{f['eprint']}).")
        elif f.get("doi"):
            parts.append(f"[doi:{f['doi']}](https://doi.org/{f['doi']}).")
        elif f.get("url"):
            parts.append(f"<{f['url']}>.")
        if f.get("note") and not f.get("eprint"):
            parts.append(f["note"] + ".")
        refs[key] = Reference(key, last or [key], year, " ".join(parts))
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


def _directive_blocks(lines: list[str]):
    """Yield (name, arg, options) for every directive opening in lines (nested ones too)."""
    for index, line in enumerate(lines):
        match = FENCE.match(line)
        if match:
            options = {}
            for option_line in lines[index + 1:]:
                option = OPTION.match(option_line.strip())
                if not option:
                    break
                options[option["key"]] = option["value"]
            yield match["name"], match["arg"].strip(), options


def scan_chapter(name: str, cells: list[tuple[str, str, dict]], number: int | None = None) -> Chapter:
    """Number the chapter's equations, exercises, theorems and figures (``number.k`` in a numbered
    chapter, as the website does), and find its labels' titles."""
    """``cells``: (cell_type, source, metadata) in notebook order."""
    text = "\n".join(source for kind, source, _ in cells if kind == "markdown")
    lines = text.splitlines()
    title = next((m.group(2) for m in map(HEADING.match, lines) if m and len(m.group(1)) == 1), name)
    chapter = Chapter(name, title, f"{number}." if number is not None else "")
    counters: dict[str, int] = {}

    def count(kind: str) -> str:
        counters[kind] = counters.get(kind, 0) + 1
        return f"{chapter.prefix}{counters[kind]}"

    # labels in front of headings, and every heading's own anchor
    for index, line in enumerate(lines):
        label = LABEL_LINE.match(line)
        if label:
            heading = next((HEADING.match(l) for l in lines[index + 1:] if l.strip()), None)
            if heading:
                chapter.targets[label["label"]] = Target(heading.group(2), _anchor(heading.group(2)))
    # equations, in order
    for line in lines:
        math = MATH_LABEL.match(line.strip())
        if math:
            chapter.targets[math["label"]] = Target(f"({count('eq')})")
    for directive, arg, options in _directive_blocks(lines):
        if directive == "math" and "label" in options:
            chapter.targets[options["label"]] = Target(f"({count('eq')})")
        elif directive == "exercise":
            number = count("exercise")
            if "label" in options:
                chapter.targets[options["label"]] = Target(f"Exercise {number}")
        elif directive.startswith("prf:") and directive[4:] in PROOF_KINDS:
            kind = PROOF_KINDS[directive[4:]]
            number = count(kind)
            if "label" in options:  # referred to by number, as on the website
                chapter.targets[options["label"]] = Target(f"{kind} {number}")
    # figures, in document order: {figure} directives and code cells with a myst-nb figure caption
    for kind, source, metadata in cells:
        if kind == "markdown":
            for directive, _, options in _directive_blocks(source.splitlines()):
                if directive in {"figure", "table"} and "name" in options:
                    shown = "Figure" if directive == "figure" else "Table"
                    chapter.targets[options["name"]] = Target(f"{shown} {count(shown)}")
        else:
            figure = (metadata.get("mystnb") or {}).get("figure") or {}
            if figure.get("name"):
                chapter.targets[figure["name"]] = Target(f"Figure {count('Figure')}")
    return chapter


# ---------------------------------------------------------------------------------------------------
# The translation
# ---------------------------------------------------------------------------------------------------

class Translator:
    """Translate the markdown cells of one chapter; `book` maps every chapter name to its Chapter."""

    def __init__(self, chapter: Chapter, book: dict[str, Chapter], references: dict[str, Reference],
                 source_dir: Path, pages: dict[str, tuple[str, str]] | None = None):
        self.chapter, self.book, self.references = chapter, book, references
        self.pages = pages or {}  # pages that are not notebooks (notation, glossary): (title, url)
        self.source_dir = source_dir
        self.cited: list[str] = []  # keys, in order of first citation
        self.exercises = 0
        self.counts: dict[str, int] = {}  # theorems, propositions, ... so far

    # --- roles -------------------------------------------------------------------------------------

    def _find(self, label: str) -> tuple[Chapter | None, Target | None]:
        if label in self.chapter.targets:
            return self.chapter, self.chapter.targets[label]
        for chapter in self.book.values():
            if label in chapter.targets:
                return chapter, chapter.targets[label]
        return None, None

    def _elsewhere(self, chapter: Chapter) -> str:
        return f" in [{chapter.title}]({chapter.name}.ipynb)"

    def _cite(self, keys: str, textual: bool) -> str:
        shown = []
        for key in [k.strip() for k in keys.split(",") if k.strip()]:
            ref = self.references.get(key)
            if ref is None:
                shown.append(key)
                continue
            if key not in self.cited:
                self.cited.append(key)
            shown.append(f"{ref.cite_names()} ({ref.year})" if textual else f"{ref.cite_names()}, {ref.year}")
        return "; ".join(shown) if textual else "(" + "; ".join(shown) + ")"

    def role(self, match: re.Match) -> str:
        name, content = match["name"], match["content"]
        text, target = _split_target(content)
        if name in {"cite:p", "cite:ps", "cite", "cite:alp"}:
            return self._cite(content, textual=False)
        if name in {"cite:t", "cite:ts", "cite:author"}:
            return self._cite(content, textual=True)
        if name == "math":
            return f"${content}$"
        if name == "eq":
            chapter, found = self._find(target)
            if found is None:
                return f"({target})"
            return found.text + ("" if chapter is self.chapter else self._elsewhere(chapter))
        if name == "doc":
            doc = target.split("/")[-1].removesuffix(".md")
            chapter = self.book.get(doc)
            if chapter is None and doc in self.pages:
                title, url = self.pages[doc]
                return f"[{text or title}]({url})"
            if chapter is None:
                return f"*{text or doc.replace('_', ' ')}* (on the course website)"
            return f"[{text or chapter.title}]({doc}.ipynb)"
        if name in {"ref", "numref", "prf:ref", "numref:"}:
            chapter, found = self._find(target)
            if found is None:
                return text or target
            if name == "numref" and text and "%s" in text:
                shown = text.replace("%s", found.text.split()[-1])
            else:
                shown = text or found.text
            if chapter is not self.chapter:
                return shown + self._elsewhere(chapter)
            return f"[{shown}]({found.anchor})" if found.anchor else shown
        if name in {"func", "class", "meth", "mod", "attr", "obj", "data", "exc"} or name.startswith("py:"):
            return f"`{(text or target).lstrip('~')}`"
        return text or target  # any other role (term, abbr, download, ...): its text

    def inline(self, text: str) -> str:
        return ROLE.sub(self.role, text)

    # --- blocks ------------------------------------------------------------------------------------

    def _literalinclude(self, arg: str, options: dict) -> list[str]:
        path = (self.source_dir / arg).resolve()
        source = path.read_text()
        if "pyobject" in options:
            source = _python_object(source, options["pyobject"])
        if "start-after" in options:
            source = source.split(options["start-after"], 1)[1].split("\n", 1)[-1]
        if "end-before" in options:
            source = source.split(options["end-before"], 1)[0]
        if "lines" in options:
            keep = _line_numbers(options["lines"], len(source.splitlines()))
            source = "\n".join(l for i, l in enumerate(source.splitlines(), 1) if i in keep)
        language = options.get("language", "python" if path.suffix == ".py" else "")
        return [f"```{language}", *source.rstrip("\n").splitlines(), "```"]

    def directive(self, name: str, arg: str, options: dict, body: list[str]) -> list[str]:
        inner = self.block(body)
        dropdown = "dropdown" in options.get("class", "").split()
        if name == "literalinclude":
            return self._literalinclude(arg, options)
        if name == "math":
            label = options.get("label")
            tag = [rf"\tag{{{self.chapter.targets[label].text.strip('()')}}}"] if label in self.chapter.targets else []
            return ["$$", *body, *tag, "$$"]
        if name == "exercise":
            self.exercises += 1
            return _quote([f"**Exercise {self.chapter.prefix}{self.exercises}**" + (f" ({self.inline(arg)})" if arg else ""), "", *inner])
        if name == "solution":
            _, found = self._find(arg)
            heading = f"Solution to {found.text}" if found else "Solution"
            if dropdown:
                return _details(heading, inner)
            return [f"**{heading}.**", "", *inner]
        if name == "prf:proof":
            body = _end_with(inner, "\u220e")
            if dropdown:
                return _details("Proof", body)
            if body and _is_text(body[0]):
                return [f"*Proof.* {body[0]}", *body[1:]]
            return ["*Proof.*", "", *body]
        if name.startswith("prf:") and name[4:] in PROOF_KINDS:
            kind = PROOF_KINDS[name[4:]]
            self.counts[kind] = self.counts.get(kind, 0) + 1
            heading = f"**{kind} {self.chapter.prefix}{self.counts[kind]}**"
            if arg:
                heading += f" ({self.inline(arg)})"
            return _quote([heading, "", *inner])
        if name in ADMONITIONS:
            title = self.inline(arg) if name == "admonition" else ADMONITIONS[name]
            if dropdown:
                return _details(title, inner)
            return _quote([f"**{title}.**" if title else "", "", *inner])
        if name in {"figure", "image"}:
            alt = options.get("alt", "")
            return [f"![{alt}](../book/{arg})", "", *inner]
        if name in {"bibliography", "tableofcontents"}:
            return []
        # any other directive: its body, headed by its argument when it has one
        return ([f"**{self.inline(arg)}**", ""] if arg else []) + inner

    def block(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        in_code = None  # the fence of an ordinary code block we are in (no translation inside)
        while i < len(lines):
            line = lines[i]
            if in_code:
                out.append(line)
                if line.strip().startswith(in_code) and line.strip().strip(in_code[0]) == "":
                    in_code = None
                i += 1
                continue
            opening = FENCE.match(line)
            if opening:
                fence = opening["fence"]
                j, options = i + 1, {}
                while j < len(lines) and OPTION.match(lines[j].strip()):
                    option = OPTION.match(lines[j].strip())
                    options[option["key"]] = option["value"]
                    j += 1
                body, depth = [], 0
                while j < len(lines):
                    stripped = lines[j].strip()
                    nested = FENCE.match(lines[j])
                    if nested and nested["fence"] == fence:
                        depth += 1
                    elif stripped == fence or (stripped and set(stripped) == {fence[0]} and len(stripped) == len(fence)):
                        if depth == 0:
                            break
                        depth -= 1
                    body.append(lines[j])
                    j += 1
                while body and not body[0].strip():
                    body.pop(0)
                out.extend(self.directive(opening["name"], opening["arg"].strip(), options, body))
                i = j + 1
                continue
            if re.match(r"^ {0,3}(`{3,}|~{3,})", line):
                in_code = line.strip()[:3]
                out.append(line)
                i += 1
                continue
            if LABEL_LINE.match(line):
                i += 1
                if i < len(lines) and not lines[i].strip() and (not out or not out[-1].strip()):
                    i += 1  # no double blank line where the label was
                continue
            math = MATH_LABEL.match(line.strip())
            if math:
                found = self.chapter.targets.get(math["label"])
                if found is not None:
                    out.append(rf"\tag{{{found.text.strip('()')}}}")
                out.append("$$")
                i += 1
                continue
            out.append(self.inline(line))
            i += 1
        return out

    def translate(self, markdown: str) -> str:
        return "\n".join(self.block(markdown.splitlines())).strip("\n")

    def references_cell(self) -> str | None:
        """A closing "References" cell with the full entries of the works this chapter cited."""
        if not self.cited:
            return None
        entries = sorted((self.references[key] for key in self.cited), key=lambda r: (r.last_names, r.year))
        return "## References\n\n" + "\n".join(f"- {ref.entry}" for ref in entries)


def _is_text(line: str) -> bool:
    """A line of running text (not maths, code, a table, HTML or a list)."""
    stripped = line.strip()
    return bool(stripped) and not re.match(r"^(\$\$|```|~~~|\||<|[-*+] |\d+\. |>|\\begin|#)", stripped)


def _end_with(lines: list[str], mark: str) -> list[str]:
    """lines with mark at the end of their last paragraph, or on a line of its own after maths/code."""
    lines = list(lines)
    while lines and not lines[-1].strip():
        lines.pop()
    if lines and _is_text(lines[-1]):
        return lines[:-1] + [f"{lines[-1]} {mark}"]
    return lines + ["", mark]


def _quote(lines: list[str]) -> list[str]:
    """A Markdown blockquote. Display maths goes on one line: JupyterLab takes the maths out before it
    reads the Markdown, so a "> " on a continuation line would become part of the formula."""
    return [("> " + line).rstrip() for line in _math_on_one_line(lines)]


def _math_on_one_line(lines: list[str]) -> list[str]:
    out, block, closing = [], [], None
    for line in lines:
        stripped = line.strip()
        if closing is None:
            begin = re.match(r"^\\begin\{([\w*]+)\}", stripped)
            if stripped.startswith("$$") and not (len(stripped) > 2 and stripped.endswith("$$")):
                block, closing = [stripped], "$$"
            elif begin and f"\\end{{{begin[1]}}}" not in stripped:
                block, closing = [stripped], f"\\end{{{begin[1]}}}"
            else:
                out.append(line)
            continue
        block.append(stripped)
        if stripped.endswith(closing) or (closing == "$$" and stripped.startswith("$$")):
            out.append(" ".join(part for part in block if part))
            closing = None
    if closing is not None:  # unclosed: leave as it was
        out.extend(block)
    return out


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
        node = next(n for n in nodes if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                    and n.name == part)
        nodes = node.body
    lines = source.splitlines()
    return "\n".join(lines[node.lineno - 1:node.end_lineno])
