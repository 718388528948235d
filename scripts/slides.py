"""A reveal.js slide deck per chapter, made from the chapter's MyST source and its executed outputs.

``make slides`` writes ``_build/slides/<chapter>.html`` for every chapter, an ``index.html`` listing them,
and ``_build/slides/_assets/`` with reveal.js and MathJax (vendored from npm, pinned and hash-checked by
scripts/vendor_assets.py): the folder works offline, from a laptop or a USB stick.

What goes on the slides is read from the structure every chapter already has (STYLE.md, "Slides"):

- the title and the **learning-goals** admonition (with the prerequisites);
- an outline: the chapter's sections;
- per section, its **labelled display equations** (numbered as on the website, ``(4.1)``) and its
  theorems' statements, with the section's paragraphs as speaker notes;
- its **figures** (the myst-nb ``figure`` code cells), the picture taken from the executed notebook, with
  the caption, and the sentences of the section that quote computed numbers (``{glue:text}``), filled
  in with the numbers; the paragraphs that cite the figure are its speaker notes;
- the **key takeaways** admonition, and the exercises, one line each.

A chapter may add to this, in its source and nowhere else, with HTML comments (invisible on the
website, in the notebooks and in the PDF): ``<!-- slide -->`` or ``<!-- slide: Title -->`` on the line
before a block (a paragraph, a list, display maths, an admonition) puts that block on a slide of its own;
``<!-- no-slide -->`` before a labelled equation or a theorem leaves it off. A code cell tagged ``slide``
shows its code on a slide; a figure cell tagged ``no-slide`` is left off.

The executed outputs come from the website build (myst-nb's ``_build/jupyter_execute/book/<chapter>.ipynb``)
when it is there, else the chapter is executed (``jupytext --execute``; the mode follows
``VAECOURSE_SMOKE``, and a deck made from smoke-mode outputs says so on its title slide).

Usage: ``python -m scripts.slides [CHAPTER ...] [--out DIR] [--executed DIR]``.
"""

from __future__ import annotations

import argparse
import base64
import html
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from scripts import chapters, plain_markdown

ROOT = chapters.ROOT
OUT = ROOT / "_build" / "slides"
EXECUTED = ROOT / "_build" / "jupyter_execute"  # myst-nb's executed notebooks of the website build
MARKER = re.compile(r"^<!--\s*(?P<kind>slide|no-slide)\s*(?::\s*(?P<title>.*?))?\s*-->$")
# Sections of the chapter layout that are not part of the derivation.
CLOSING = {"key takeaways", "exercises", "self-test", "further reading", "references"}
EQUATIONS_PER_SLIDE = 2
GLUED = "\u27e6{}\u27e7"  # a glued number's place in the translated text (made bold on the slide)


# ---------------------------------------------------------------------------------------------------
# Markdown -> HTML (maths left for MathJax as \( \) and \[ \])
# ---------------------------------------------------------------------------------------------------


def _markdown():
    from markdown_it import MarkdownIt
    from mdit_py_plugins.amsmath import amsmath_plugin
    from mdit_py_plugins.dollarmath import dollarmath_plugin

    def maths(content: str, config: dict) -> str:
        content = html.escape(content.strip(), quote=False)
        return f"\\[{content}\\]" if config.get("display_mode") else f"\\({content}\\)"

    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.use(dollarmath_plugin, renderer=maths, allow_digits=False)
    md.use(amsmath_plugin, renderer=lambda content: html.escape(content, quote=False))
    return md


_MD = None


def to_html(markdown: str) -> str:
    """Markdown (after the roles are translated) as HTML; glued numbers in bold."""
    global _MD
    _MD = _MD or _markdown()
    out = _MD.render(markdown)
    return re.sub("\u27e6(.*?)\u27e7", r"<strong class='computed'>\1</strong>", out)


def _unwrap(rendered: str) -> str:
    """One rendered paragraph without its <p>."""
    return rendered.strip().removeprefix("<p>").removesuffix("</p>")


def to_text(markdown: str) -> str:
    return re.sub("\u27e6(.*?)\u27e7", r"\1", markdown)


# ---------------------------------------------------------------------------------------------------
# The chapter's text: plain_markdown's translator, with references as plain text and numbers filled in
# ---------------------------------------------------------------------------------------------------


class SlideText(plain_markdown.Translator):
    """plain_markdown's translator for slides: cross references are text (no links to notebooks), and
    ``{glue:text}`name``` is the computed number (marked, so that the slide can show it in bold)."""

    def __init__(self, *args, glued: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.glued = glued
        self.used: set[str] = set()

    def link(self, shown, chapter, target) -> str:
        return shown

    def role(self, name: str, content: str) -> str:
        if name.startswith("glue"):
            key = content.split(":")[0].strip()
            self.used.add(key)
            return GLUED.format(self.glued[key]) if key in self.glued else f"`{key}`"
        if name == "doc":
            text, target = plain_markdown._split_target(content)
            doc = target.split("/")[-1].removesuffix(".md")
            if doc in self.book:
                number = chapters.chapter_numbers().get(doc)
                return text or (f"{number}. " if number else "") + self.book[doc].title
            return text or self.pages.get(doc, (doc.replace("_", " "), ""))[0]
        return super().role(name, content)


# ---------------------------------------------------------------------------------------------------
# The executed outputs: pictures of the figure cells and the quoted numbers
# ---------------------------------------------------------------------------------------------------


@dataclass
class Outputs:
    figures: dict[str, tuple[str, bytes]]  # figure name -> (suffix, image bytes)
    glued: dict[str, str]  # quoted name -> its text
    source: str  # where they come from, for the title slide
    smoke: bool = False


def executed_notebook(path: Path, executed: Path, work: Path) -> tuple[Path, bool]:
    """The executed notebook of a chapter: the website build's, else a fresh execution (in ``work``).
    Returns (path, smoke) where smoke says the chapter was executed here in smoke mode."""
    built = executed / "book" / f"{path.stem}.ipynb"
    if built.exists() and built.stat().st_mtime >= path.stat().st_mtime:
        return built, False
    work.mkdir(parents=True, exist_ok=True)
    smoke = os.environ.get("VAECOURSE_SMOKE", "") not in ("", "0")
    target = work / f"{path.stem}.{'smoke' if smoke else 'full'}.ipynb"  # kept: the next deck is quick
    if not (target.exists() and target.stat().st_mtime >= path.stat().st_mtime):
        print(f"slides: executing {path.name} ({'smoke' if smoke else 'full'} mode) for its figures", flush=True)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        env.pop("MPLBACKEND", None)  # the kernel's inline backend makes the pictures
        jupytext = [sys.executable, "-m", "jupytext", "--execute", "--to", "ipynb", "-o", str(target), str(path)]
        result = subprocess.run(jupytext, cwd=path.parent, env=env, capture_output=True, text=True)
        if result.returncode != 0:
            tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-6:])
            raise RuntimeError(f"executing {path.name} for its slides failed:\n{tail}")
    return target, smoke


def read_outputs(notebook_path: Path, names: set[str], smoke: bool) -> Outputs:
    """The last picture of every figure cell (by its figure name) and the quoted numbers in ``names``:
    glued by myst-nb in a website build, printed ``name: value`` by vaecourse.prose.quote elsewhere."""
    import nbformat

    notebook = nbformat.read(notebook_path, as_version=4)
    figures, glued = {}, {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        figure = (cell.metadata.get("mystnb") or {}).get("figure") or {}
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            scrap = (output.get("metadata") or {}).get("scrapbook") or {}
            if scrap.get("name") in names and "text/plain" in data:
                glued[scrap["name"]] = str(data["text/plain"]).strip("'\"")
            if output.get("output_type") == "stream":
                for line in output.get("text", "").splitlines():
                    match = re.fullmatch(r"(?P<name>\w+): (?P<value>.+)", line.strip())
                    if match and match["name"] in names:
                        glued[match["name"]] = match["value"]
            if figure.get("name"):
                if "image/svg+xml" in data:
                    figures[figure["name"]] = (".svg", str(data["image/svg+xml"]).encode())
                elif "image/png" in data:
                    figures[figure["name"]] = (".png", base64.b64decode(data["image/png"]))
    return Outputs(figures, glued, str(notebook_path), smoke)


# ---------------------------------------------------------------------------------------------------
# The chapter's structure
# ---------------------------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    number: str  # "Figure 4.1"
    caption: str  # HTML
    alt: str
    notes: list[str] = field(default_factory=list)  # HTML of the paragraphs that cite it


@dataclass
class Section:
    title: str
    equations: list[str] = field(default_factory=list)  # HTML of display maths, each with its \tag
    statements: list[tuple[str, str]] = field(default_factory=list)  # (heading, body HTML)
    figures: list[Figure] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)  # Markdown sentences with computed numbers
    notes: list[str] = field(default_factory=list)  # HTML of the section's prose
    marked: list[tuple[str, str]] = field(default_factory=list)  # (title, HTML) of marked blocks
    code: list[str] = field(default_factory=list)


@dataclass
class Deck:
    stem: str
    number: int | None
    title: str
    goals: str = ""
    takeaways: str = ""
    sections: list[Section] = field(default_factory=list)
    exercises: list[str] = field(default_factory=list)  # HTML, one line each


def _sentences_with_numbers(markdown: str) -> list[str]:
    text = " ".join(markdown.split())
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z(*])", text) if "\u27e6" in s]


def _first_sentence(markdown: str) -> str:
    text = " ".join(markdown.split())
    return re.split(r"(?<=[.!?])\s+(?=[A-Z(*])", text, maxsplit=1)[0]


class _Reader:
    """Reads a chapter's cells, in order, into a Deck."""

    def __init__(self, path: Path, outputs: Outputs):
        book, references, pages = chapters._book()
        self.cells = chapters.read_chapter(path).cells
        number = chapters.chapter_numbers().get(path.stem)
        self.chapter = book.get(path.stem) or plain_markdown.scan_chapter(
            path.stem, [(c.cell_type, c.source, c.metadata) for c in self.cells], number
        )
        self.tr = SlideText(self.chapter, book, references, source_dir=path.parent, pages=pages, glued=outputs.glued)
        self.deck = Deck(path.stem, number, self.chapter.title)
        self.section = Section("")
        self.deck.sections.append(self.section)
        self.closing = False  # in the takeaways, exercises, self-test, further reading
        self.marker = None

    def read(self) -> Deck:
        for cell in self.cells:
            if cell.cell_type == "code":
                self.code_cell(cell)
                continue
            self.marker = None
            for block in plain_markdown.blocks(cell.source):
                if block.kind != "gap":
                    self.block(block)
        # a paragraph that cites a figure may come before the figure's cell
        for section in self.deck.sections:
            for figure in section.figures:
                figure.notes = figure.notes or [n for n in section.notes if figure.number in n]
        return self.deck

    def code_cell(self, cell) -> None:
        tags = set(cell.metadata.get("tags", []))
        mystnb = cell.metadata.get("mystnb") or {}
        figure = mystnb.get("figure") or {}
        name = figure.get("name")
        if name and "no-slide" not in tags and name in self.chapter.targets:
            caption = to_html(self.tr.inline(" ".join(str(figure.get("caption", "")).split())))
            alt = (mystnb.get("image") or {}).get("alt") or self.chapter.title
            self.section.figures.append(Figure(name, self.chapter.targets[name].text, caption, alt))
        if "slide" in tags:
            self.section.code.append(chapters.strip_test_markers(cell.source))

    def block(self, block: plain_markdown.Block) -> None:
        found = MARKER.match(block.lines[0].strip()) if block.kind == "text" else None
        if found:
            self.marker = found
            return
        marker, self.marker = self.marker, None
        markdown = "\n".join(self.tr.block(block.lines))
        if marker is not None and marker["kind"] == "slide":
            self.section.marked.append((marker["title"] or self.section.title, to_html(markdown)))
            return
        keep = marker is None and not self.closing  # `<!-- no-slide -->` before it: not on a slide
        if block.kind == "heading":
            self.heading(block)
        elif block.directive is not None:
            self.directive(block.directive, markdown, keep)
        elif block.kind == "math":
            if keep:
                self.section.equations.append(to_html(markdown))
        elif not self.closing:
            self.prose(markdown)

    def heading(self, block: plain_markdown.Block) -> None:
        if block.lines[0].startswith("## "):
            title = plain_markdown.heading_text(block)
            self.closing = title.lower() in CLOSING
            self.section = Section(_unwrap(to_html(self.tr.inline(title))))
            self.deck.sections.append(self.section)

    def directive(self, directive: plain_markdown.Directive, markdown: str, keep: bool) -> None:
        name, arg = directive.name, directive.arg.strip().lower()
        if name == "admonition" and arg in ("learning goals", "key takeaways"):
            body = to_html("\n".join(self.tr.block(directive.body)))
            self.deck.goals, self.deck.takeaways = (
                (body, self.deck.takeaways) if arg == "learning goals" else (self.deck.goals, body)
            )
        elif name == "exercise":
            self.deck.exercises.append(to_html(_first_sentence("\n".join(self.tr.block(directive.body)))))
        elif name[4:] in plain_markdown.PROOF_KINDS and name != "prf:proof" and keep:
            lines = markdown.splitlines()
            body = "\n".join(line[2:] if line.startswith("> ") else line.lstrip(">") for line in lines[1:])
            self.section.statements.append((to_html(lines[0].lstrip("> ").strip()), to_html(body)))
        elif name == "math" and "label" in directive.options and keep:
            self.section.equations.append(to_html(markdown))
        elif not self.closing:
            self.section.notes.append(to_html(markdown))

    def prose(self, markdown: str) -> None:
        rendered = to_html(markdown)
        self.section.notes.append(rendered)
        self.section.numbers += _sentences_with_numbers(markdown)
        for figure in self.section.figures:
            if figure.number in to_text(markdown):
                figure.notes.append(rendered)


def chapter_deck(path: Path, outputs: Outputs) -> Deck:
    """Read the chapter's cells into a Deck (no HTML page yet)."""
    return _Reader(path, outputs).read()


# ---------------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------------


def _slide(body: str, notes: list[str] | None = None, cls: str = "") -> str:
    aside = f'<aside class="notes">{"".join(notes)}</aside>' if notes else ""
    attribute = f' class="{cls}"' if cls else ""
    return f"<section{attribute}>\n{body}\n{aside}</section>\n"


def _figure_slide(figure: Figure, heading: str, outputs: Outputs, images: Path, numbers: list[str]) -> str:
    picture = outputs.figures.get(figure.name)
    if picture is None:
        image = "<p class='missing'>(no picture in the executed notebook: see the website)</p>"
    else:
        suffix, data = picture
        file = images / f"{figure.name}{suffix}"
        file.write_bytes(data)
        image = f"<img src='{html.escape(images.name + '/' + file.name)}' alt='{html.escape(figure.alt)}'>"
    computed = f"<ul class='computed'>{''.join(f'<li>{n}</li>' for n in numbers)}</ul>" if numbers else ""
    caption = f"<figcaption><strong>{figure.number}.</strong> {_unwrap(figure.caption)}</figcaption>"
    return _slide(f"<h2>{heading}</h2>\n<figure>{image}{caption}</figure>{computed}", figure.notes, cls="figure")


def _section_slides(section: Section, heading: str, outputs: Outputs, images: Path) -> list[str]:
    slides = []
    for start in range(0, len(section.equations), EQUATIONS_PER_SLIDE):
        part = section.equations[start : start + EQUATIONS_PER_SLIDE]
        more = " (continued)" if start else ""
        body = "\n".join(f"<div class='equation'>{eq}</div>" for eq in part)
        slides.append(_slide(f"<h2>{heading}{more}</h2>\n{body}", section.notes, cls="equations"))
    for statement, body in section.statements:
        slides.append(_slide(f"<h2>{heading}</h2>\n<div class='statement'>{statement}{body}</div>", section.notes))
    for marked_title, body in section.marked:
        slides.append(_slide(f"<h2>{marked_title}</h2>\n{body}", section.notes))
    for code in section.code:
        code_html = f"<pre><code class='python'>{html.escape(code)}</code></pre>"
        slides.append(_slide(f"<h2>{heading}</h2>\n{code_html}", section.notes))
    numbers = [to_html(s) for s in section.numbers]
    for figure in section.figures:
        slides.append(_figure_slide(figure, heading, outputs, images, numbers))
        numbers = []  # shown once, on the section's first figure
    if numbers:
        items = "".join(f"<li>{n}</li>" for n in numbers)
        slides.append(_slide(f"<h2>{heading}: the numbers</h2>\n<ul class='computed'>{items}</ul>", section.notes))
    return slides


def render(deck: Deck, outputs: Outputs, images: Path, assets: str, version: str) -> str:
    """The deck as one HTML page; figures are written into ``images``."""
    number = f"{deck.number}. " if deck.number else ""
    title = html.escape(f"{number}{deck.title}")
    mode = (
        "<p class='mode'>Made from a smoke-mode run (small models, short training): the numbers and "
        "pictures are not those of the book. Build with <code>make slides</code> after <code>make book</code> "
        "for the full-mode ones.</p>"
        if outputs.smoke
        else ""
    )
    slides = [
        _slide(
            f"<h1>{title}</h1>\n<p class='course'>Variational Autoencoders for the Physical Sciences</p>\n"
            f"<p class='credit'>vaecourse {html.escape(version)}, after M. Hjorth-Jensen's lecture</p>{mode}",
            cls="title",
        )
    ]
    if deck.goals:
        slides.append(_slide(f"<h2>Learning goals</h2>\n{deck.goals}", cls="goals"))
    derivation = [s for s in deck.sections if s.title and s.title.lower() not in CLOSING]
    if derivation:
        items = "".join(f"<li>{s.title}</li>" for s in derivation)
        slides.append(_slide(f"<h2>Outline</h2>\n<ol>{items}</ol>"))
    for section in deck.sections:
        slides += _section_slides(section, section.title or title, outputs, images)
    if deck.takeaways:
        slides.append(_slide(f"<h2>Key takeaways</h2>\n{deck.takeaways}", cls="takeaways"))
    if deck.exercises:
        items = "".join(f"<li>{_unwrap(e)}</li>" for e in deck.exercises)
        slides.append(_slide(f"<h2>Exercises</h2>\n<ol class='exercises'>{items}</ol>"))
    return PAGE.format(title=title, assets=assets, slides="".join(slides))


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{title}: slides</title>
<link rel="stylesheet" href="{assets}/reveal/dist/reset.css">
<link rel="stylesheet" href="{assets}/reveal/dist/reveal.css">
<link rel="stylesheet" href="{assets}/reveal/dist/theme/white.css">
<link rel="stylesheet" href="{assets}/slides.css">
<script>
// A slide whose content is taller than the slide gets a smaller font (equations and pictures scale with it).
function fitSlide(slide) {{
  if (!slide || slide.dataset.fitted || document.documentElement.dataset.typeset !== "done") return;
  const height = Reveal.getConfig().height;
  const wide = () => [...slide.querySelectorAll("mjx-container")].some((m) => m.scrollWidth > m.clientWidth + 1);
  for (let size = 100; (slide.scrollHeight > height || wide()) && size > 30; size -= 6) {{
    slide.style.fontSize = size - 6 + "%";
  }}
  slide.dataset.fitted = "yes";
}}
window.MathJax = {{
  loader: {{load: ["a11y/assistive-mml"]}},
  tex: {{inlineMath: [["\\\\(", "\\\\)"]], displayMath: [["\\\\[", "\\\\]"]], tags: "none"}},
  startup: {{
    pageReady: () => MathJax.startup.defaultPageReady().then(() => {{
      document.documentElement.dataset.typeset = "done";
      if (window.Reveal && Reveal.isReady()) {{ Reveal.layout(); fitSlide(Reveal.getCurrentSlide()); }}
    }})
  }}
}};
</script>
<script defer src="{assets}/mathjax/tex-chtml.js"></script>
</head>
<body>
<div class="reveal"><div class="slides">
{slides}</div></div>
<script src="{assets}/reveal/dist/reveal.js"></script>
<script src="{assets}/reveal/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({{
  hash: true, center: false, width: 1280, height: 800, margin: 0.04, transition: "fade", transitionSpeed: "fast",
  plugins: [RevealNotes],
}});
Reveal.on("ready", (event) => fitSlide(event.currentSlide));
Reveal.on("slidechanged", (event) => fitSlide(event.currentSlide));
</script>
</body>
</html>
"""

CSS = """/* The course's slides (scripts/slides.py). */
.reveal {{ font-size: 32px; }}
.reveal h1 {{ font-size: 1.9em; text-transform: none; }}
.reveal h2 {{ font-size: 1.3em; text-transform: none; }}
.reveal section {{ text-align: left; }}
.reveal section.title {{ text-align: center; padding-top: 12%; }}
.reveal .course {{ font-size: 1.1em; }}
.reveal .credit, .reveal .mode {{ font-size: 0.7em; color: #555; }}
.reveal .mode {{ color: #8a4b00; }}
.reveal .equation {{ margin: 0.6em 0; font-size: 0.95em; }}
.reveal figure {{ margin: 0; text-align: center; }}
.reveal figure img {{ max-height: 15em; max-width: 100%; margin: 0 auto; }}
.reveal figcaption {{ font-size: 0.55em; text-align: left; color: #333; }}
.reveal ul.computed {{ font-size: 0.6em; }}
.reveal strong.computed {{ color: #0b5394; }}
.reveal .goals p, .reveal .takeaways p {{ font-size: 0.8em; }}
.reveal .goals li, .reveal .takeaways li, .reveal ol.exercises li {{ font-size: 0.85em; }}
.reveal .statement {{ border-left: 4px solid #0b5394; padding-left: 0.6em; font-size: 0.85em; }}
.reveal pre code {{ font-size: 0.6em; max-height: none; }}
"""


def copy_assets(out: Path) -> None:
    """reveal.js and MathJax (vendored, pinned) and the style sheet, into ``out/_assets/``."""
    from scripts import vendor_assets

    vendor_assets.vendor()
    reveal = vendor_assets.reveal_js()
    assets = out / "_assets"
    for name, source in (("reveal", reveal), ("mathjax", vendor_assets.VENDOR / "mathjax")):
        target = assets / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target)
    (assets / "slides.css").write_text(CSS.format())


def build(stems: list[str] | None = None, out: Path = OUT, executed: Path = EXECUTED) -> list[Path]:
    """Write the decks of ``stems`` (default: every chapter but the introduction) into ``out``; return them."""
    import vaecourse

    sources = {p.stem: p for p in chapters.chapter_sources()}
    wanted = stems or [s for s in sources if chapters.chapter_numbers().get(s)]
    unknown = [s for s in wanted if s not in sources]
    if unknown:
        raise SystemExit(f"slides: no chapter named {', '.join(unknown)} (the chapters: {', '.join(sources)})")
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out)
    written = []
    for stem in wanted:
        path = sources[stem]
        notebook, smoke = executed_notebook(path, executed, out.parent / "slides-executed")
        text = path.read_text()
        names = set(re.findall(r"\{glue(?::\w+)?\}`(\w+)", text))
        outputs = read_outputs(notebook, names, smoke)
        deck = chapter_deck(path, outputs)
        images = out / stem
        if images.exists():
            shutil.rmtree(images)
        images.mkdir()
        page = out / f"{stem}.html"
        page.write_text(render(deck, outputs, images, "_assets", vaecourse.__version__))
        written.append(page)
        print(f"slides: {page.relative_to(out.parent.parent) if out.is_relative_to(ROOT) else page}")
    decks = [stem for stem in sources if (out / f"{stem}.html").exists()]  # made now or before
    index = "".join(f"<li><a href='{s}.html'>{html.escape(chapters._book()[0][s].title)}</a></li>" for s in decks)
    (out / "index.html").write_text(
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Slides</title></head><body>"
        f"<h1>Slides of the course</h1><ol>{index}</ol>"
        "<p>Arrow keys move; <kbd>s</kbd> opens the speaker notes; <kbd>f</kbd> full screen.</p></body></html>\n"
    )
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter names (file stems); default: every chapter")
    parser.add_argument("--out", type=Path, default=OUT, help="where the decks go (default: _build/slides)")
    parser.add_argument(
        "--executed", type=Path, default=EXECUTED, help="myst-nb's executed notebooks (default: _build/jupyter_execute)"
    )
    args = parser.parse_args(argv)
    build(args.chapters or None, args.out.resolve(), args.executed.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
