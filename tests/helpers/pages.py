"""Reading a rendered page (``spacy-gliner render``) as a browser's DOM or as the HTML written:
the words and tags of the relation arcs (displaCy's dep SVG), the arc labels, the classes table."""

from html.parser import HTMLParser
from typing import List, Tuple

VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())  # no end tag


class Page(HTMLParser):
    """The words, tags and arc labels of displaCy's dep SVG in a page, and the rows of its
    classes table ((choice, score) as written)."""

    def __init__(self) -> None:
        super().__init__()
        self.words: List[str] = []
        self.tags: List[str] = []
        self.arcs: List[str] = []
        self.classes: List[Tuple[str, str]] = []
        self.scripts = 0
        self._in: List[str] = []
        self._cells: List[str] = []
        self._in_classes = False

    def handle_starttag(self, tag: str, attrs: List[tuple]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("class") == "spacy-gliner-classes":
            self._in_classes = True
        self.scripts += tag == "script"
        if tag not in VOID:
            self._in.append(tag if tag != "tspan" else found.get("class", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._in_classes = False
        if tag == "tr" and self._in_classes and len(self._cells) == 2:
            self.classes.append((self._cells[0], self._cells[1]))
        if tag == "tr":
            self._cells = []
        if tag not in VOID and self._in:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        where = self._in[-1] if self._in else ""
        if where == "displacy-word":
            self.words.append(data)
        elif where == "displacy-tag":
            self.tags.append(data)
        elif where == "textpath":
            self.arcs.append(data)
        elif where == "td" and self._in_classes:
            self._cells.append(data)


def read_page(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page
