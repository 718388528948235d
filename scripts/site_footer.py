"""Sphinx extension: the website's footer shows the course's version, read from the package.

_config.yml's ``html.extra_footer`` (sphinx-book-theme's ``extra_footer``) is a template: ``{version}``
becomes ``vaecourse.__version__`` and ``{repository}`` the address of the repository's files on its branch
(_config.yml ``repository.url`` and ``repository.branch``), so the version is written once, in
vaecourse/__init__.py. Sphinx's own ``version`` and ``release`` are set to it as well.

Enabled in _config.yml under sphinx.local_extensions.
"""

from __future__ import annotations

PLACEHOLDER = "{version}"


def render_footer(template: str, version: str, repository_url: str, branch: str) -> str:
    """The footer's HTML: the template with ``{version}`` and ``{repository}`` filled in.

    Raises ValueError when the template has no ``{version}`` (the footer would not show it).
    """
    if PLACEHOLDER not in template:
        raise ValueError(
            f"_config.yml: html.extra_footer must contain {PLACEHOLDER} (the footer shows the "
            f"course's version, vaecourse.__version__); it is {template!r}"
        )
    repository = f"{repository_url.rstrip('/')}/blob/{branch}"
    return template.replace(PLACEHOLDER, version).replace("{repository}", repository)


def fill_footer(app, config):
    import vaecourse

    options = dict(config.html_theme_options or {})
    options["extra_footer"] = render_footer(
        options.get("extra_footer", ""),
        vaecourse.__version__,
        options.get("repository_url", ""),
        options.get("repository_branch", "main"),
    )
    config.html_theme_options = options
    config.version = config.release = vaecourse.__version__


def setup(app):
    app.connect("config-inited", fill_footer)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
