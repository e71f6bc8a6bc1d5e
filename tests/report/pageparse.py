"""A small reader of the report page (stdlib html.parser): tables by section, ids, links, figures."""

from __future__ import annotations

from html.parser import HTMLParser

VOID = {"meta", "br", "img", "input", "link", "hr", "wbr", "col", "source", "area", "base", "embed", "track"}


class Page(HTMLParser):
    """``tables``: one dict per <table> with ``section`` (id of the enclosing <section>), ``heading``
    (the last h3/h4 text before it), ``cls`` and ``rows`` {row label: {data-col: (text, classes)}},
    header ``columns`` (texts); ``ids``; ``links`` (hrefs); ``figures`` (count of <figure> with an <svg>);
    ``sections`` {id: first heading}."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables, self.ids, self.links, self.headings = [], [], [], []
        self.sections: dict[str, str] = {}
        self.figures = 0
        self._sections: list[str | None] = []
        self._heading: str = ""
        self._in_heading = False
        self._table = None
        self._row = None
        self._cell = None
        self._th = None
        self._in_figure = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and "href" in a:
            self.links.append(a["href"])
        if tag == "section":
            self._sections.append(a.get("id"))
        elif tag in ("h2", "h3", "h4", "h5"):
            self._in_heading, self._heading = True, ""
        elif tag == "table":
            self._table = {"section": next((s for s in reversed(self._sections) if s), None),
                           "heading": self._heading, "cls": a.get("class", ""), "rows": {}, "columns": []}
        elif tag == "tr" and self._table is not None:
            self._row = {"label": a.get("data-method"), "cls": a.get("class", ""), "cells": {}}
        elif tag == "td" and self._row is not None:
            self._cell = {"key": a.get("data-col"), "cls": a.get("class", ""), "text": ""}
        elif tag == "th" and self._table is not None and self._row is not None:
            self._th = ""
        elif tag == "figure":
            self._in_figure = True
        elif tag == "svg" and self._in_figure:
            self.figures += 1
            self._in_figure = False

    def handle_endtag(self, tag):
        if tag == "section" and self._sections:
            self._sections.pop()
        elif tag in ("h2", "h3", "h4", "h5"):
            self._in_heading = False
            self.headings.append(self._heading.strip())
            if self._sections and self._sections[-1] and self._sections[-1] not in self.sections:
                self.sections[self._sections[-1]] = self._heading.strip()
        elif tag == "td" and self._cell is not None:
            self._row["cells"][self._cell["key"]] = (" ".join(self._cell["text"].split()), self._cell["cls"])
            self._cell = None
        elif tag == "th" and self._th is not None:
            if self._row is not None and not self._row["cells"] and self._row["label"] is None:
                self._table["columns"].append(" ".join(self._th.split()))
            self._th = None
        elif tag == "tr" and self._row is not None:
            if self._row["label"] is not None:
                self._table["rows"][self._row["label"]] = self._row
            self._row = None
        elif tag == "table" and self._table is not None:
            self.tables.append(self._table)
            self._table = None
        elif tag == "figure":
            self._in_figure = False

    def handle_data(self, data):
        if self._in_heading:
            self._heading += data
        if self._cell is not None:
            self._cell["text"] += data
        if self._th is not None:
            self._th += data

    def section_id(self, heading: str) -> str:
        """The id of the section whose first heading is ``heading``."""
        return next(k for k, v in self.sections.items() if v == heading)

    def table(self, section: str, heading: str) -> dict:
        """The first table of a section (by id) under a heading that starts with ``heading``."""
        for t in self.tables:
            if t["section"] == section and t["heading"].startswith(heading):
                return t
        raise KeyError(f"no table under {heading!r} in section {section!r}")
