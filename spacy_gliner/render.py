"""Showing entities: stable label colours, terminal highlighting, displaCy pages.

A library module (no command-line code): ``spacy-gliner render``/``redact`` and the
project's ``visualize`` script draw with the same colours. Flat entities are drawn at
GLiNER's own characters (``alignment.exact_offsets``), not at the widened token spans.
"""

import colorsys
import hashlib
import html
import re
import warnings
from typing import Any, Dict, Iterable, List, Tuple

from spacy.tokens import Doc
from wasabi import color

_HEX = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")
CSS_COLOR_NAMES = frozenset(
    """aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue blueviolet brown
    burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk crimson cyan darkblue darkcyan
    darkgoldenrod darkgray darkgreen darkgrey darkkhaki darkmagenta darkolivegreen darkorange darkorchid darkred
    darksalmon darkseagreen darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue
    dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite gold goldenrod gray
    green greenyellow grey honeydew hotpink indianred indigo ivory khaki lavender lavenderblush lawngreen
    lemonchiffon lightblue lightcoral lightcyan lightgoldenrodyellow lightgray lightgreen lightgrey lightpink
    lightsalmon lightseagreen lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen
    linen magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen mediumslateblue
    mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream mistyrose moccasin navajowhite navy
    oldlace olive olivedrab orange orangered orchid palegoldenrod palegreen paleturquoise palevioletred papayawhip
    peachpuff peru pink plum powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
    seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen steelblue tan teal
    thistle tomato turquoise violet wheat white whitesmoke yellow yellowgreen""".split()
)
PREVIEW_COLOR = "#ff7a7a"
# the redaction preview: entities taken by propagation, marked apart (label "PERSON (propagated)")
PROPAGATED_MARK, PROPAGATED_COLOR = "(propagated)", "#ffc04d"


def label_color(label: str) -> str:
    """A light colour for ``label``, the same on every run: its hue comes from a hash of the name."""
    digest = hashlib.sha1(label.upper().encode("utf8")).digest()
    hue = int.from_bytes(digest[:2], "big") / 65536
    red, green, blue = colorsys.hls_to_rgb(hue, 0.78, 0.8)
    return "#{:02x}{:02x}{:02x}".format(round(red * 255), round(green * 255), round(blue * 255))


def xterm_color(hex_color: str) -> int:
    """The nearest of the 6x6x6 colour cube of 256-colour terminals."""
    red, green, blue = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    return 16 + 36 * round(red / 51) + 6 * round(green / 51) + round(blue / 51)


def check_color(value: str, where: str = "") -> str:
    """``value`` if it is a CSS colour name or a hex code, else a ValueError saying so."""
    if not (_HEX.fullmatch(value.strip()) or value.strip().lower() in CSS_COLOR_NAMES):
        raise ValueError(
            f"{where}{value!r} is not a colour; use a CSS colour name (red, gold, lightblue...) or a hex code like"
            " #ff8800."
        )
    return value.strip()


def merge_spans(entities: Iterable[Dict[str, Any]]) -> List[Tuple[int, int, str]]:
    """Character ranges covered by entities, overlaps joined; each keeps the label of its first entity."""
    merged: List[Tuple[int, int, str]] = []
    for ent in sorted(entities, key=lambda e: (e["start"], -e["end"])):
        if merged and ent["start"] < merged[-1][1]:
            start, end, label = merged[-1]
            merged[-1] = (start, max(end, ent["end"]), label)
        else:
            merged.append((ent["start"], ent["end"], ent["label"]))
    return merged


def highlight(text: str, entities: List[Dict[str, Any]]) -> str:
    """``text`` for a terminal, each entity on its label's colour with the label after it."""
    pieces, pos = [], 0
    for start, end, label in merge_spans(entities):
        code = xterm_color(label_color(label))
        pieces.append(text[pos:start])
        pieces.append(color(f"{text[start:end]} ", fg=16, bg=code) + color(label, fg=16, bg=code, bold=True))
        pos = end
    pieces.append(text[pos:])
    return "".join(pieces)


def displacy_page(docs: Any, style: str, colors: Dict[str, str], manual: bool = False, **options: Any) -> str:
    """A displaCy page (``ent`` or ``span`` style) with every text of the documents escaped.

    displaCy escapes the document's text but not labels, titles, knowledge-base links or
    colours: a label like ``<img src=x onerror=...>`` would run as code in the page. Here
    documents go to displaCy as manual data with all of them escaped.
    """
    from spacy import displacy

    items = (
        docs
        if manual
        else [_parse(doc, style, options) for doc in (docs if isinstance(docs, (list, tuple)) else [docs])]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # displaCy warns about documents without entities
        return displacy.render(
            [_escaped(item) for item in (items if isinstance(items, (list, tuple)) else [items])],
            style=style,
            page=True,
            manual=True,
            options={**options, "colors": {html.escape(label): html.escape(value) for label, value in colors.items()}},
        )


def _parse(doc: Any, style: str, options: Dict[str, Any]) -> Dict[str, Any]:
    from spacy import displacy

    parse = {"ent": displacy.parse_ents, "span": displacy.parse_spans}.get(style)
    if parse is None:
        raise ValueError(f"displacy_page draws the 'ent' and 'span' styles, not {style!r}.")
    return parse(doc, options)


def _escaped(item: Dict[str, Any]) -> Dict[str, Any]:
    """displaCy's manual data with every text it does not escape itself escaped."""
    out = dict(item)
    for key in ("ents", "spans"):
        if key in out:
            out[key] = [
                {
                    k: html.escape(v) if k in ("label", "kb_id", "kb_url") and isinstance(v, str) else v
                    for k, v in span.items()
                }
                for span in out[key]
            ]
    if out.get("title"):
        out["title"] = html.escape(str(out["title"]))
    if isinstance(out.get("settings"), dict):
        out["settings"] = {k: html.escape(v) if isinstance(v, str) else v for k, v in out["settings"].items()}
    return out


def render_html(doc: Doc, key: str, nested: bool, overrides: Dict[str, str]) -> str:
    """A self-contained HTML page of ``doc``; ``overrides`` maps upper-cased labels to colours.
    Below the entities: the doc's relations (:func:`relation_arcs`) and classes (:func:`classes_table`).

    Flat: entity style, each entity of ``doc.spans[key]`` marked at GLiNER's own characters
    (``doc.ents`` holds them widened to tokens). Nested: displaCy's span style, which draws
    the widened spans (exact with the GLiNER tokenizer, where tokens are words). Raises
    ``ValueError`` where the group no longer fits the doc's tokens (``merge_entities``).
    """
    from .alignment import exact_offsets

    group = doc.spans[key] if key in doc.spans else None
    offsets = exact_offsets(group) if group is not None else [(s.start_char, s.end_char) for s in doc.ents]
    spans = list(group) if group is not None else ([] if nested else list(doc.ents))
    colors = {s.label_: overrides.get(s.label_.upper(), label_color(s.label_)) for s in spans}
    if nested:
        page = displacy_page(doc, "span", colors, spans_key=key)
    else:
        ents = [{"start": a, "end": b, "label": s.label_} for s, (a, b) in zip(spans, offsets)]
        page = marked_page(doc.text, merge_spans(ents), colors)
    extra = relation_arcs(doc) + classes_table(doc)
    return page.replace("</body>", extra + "</body>", 1) if extra else page


def classes_table(doc: Doc) -> str:
    """``doc.cats`` (where a component wrote classes: a GLiNER2 classification task, a
    ``textcat``) as a table of choice and score (rounded as in a record), in the order written,
    every choice escaped; "" without classes."""
    from .records import cat_records

    cats = cat_records(doc)
    if not cats:
        return ""
    cell = '<td style="padding: 0.2em 1em; border-top: 1px solid #ddd">'
    rows = "".join(f"<tr>{cell}{html.escape(choice)}</td>{cell}{score:.4f}</td></tr>" for choice, score in cats.items())
    return (
        '<table class="spacy-gliner-classes" style="margin: 1em 2em 2em; border-collapse: collapse; font-family: '
        '-apple-system, BlinkMacSystemFont, sans-serif"><caption style="text-align: left; font-weight: bold">Classes'
        '</caption><tr><th style="padding: 0.2em 1em; text-align: left">class</th><th style="padding: 0.2em 1em">score'
        f"</th></tr>{rows}</table>"
    )


def relation_arcs(doc: Doc) -> str:
    """The relations of ``doc._.rel`` as an SVG of displaCy's ``dep`` style (manual): each end of a
    relation is a word (its exact characters, its label under it), in text order, and each
    relation an arc labelled with its type, pointing from head to tail; "" without relations.
    An end with no label (a GLiNER2 argument that is no entity found) has none under it. Labels
    are escaped here (displaCy escapes the words only)."""
    from spacy import displacy

    from .relations import relations_of

    found = relations_of(doc)
    if not found:
        return ""

    def key(end: Dict[str, Any]) -> Tuple[int, int, str]:
        return end["start_char"], end["end_char"], end["label"] or ""

    ends = sorted({key(r[side]) for r in found for side in ("head", "tail")})
    index = {end: i for i, end in enumerate(ends)}
    words = [{"text": doc.text[a:b], "tag": html.escape(label)} for a, b, label in ends]
    arcs = []
    for r in found:
        head, tail = index[key(r["head"])], index[key(r["tail"])]
        arcs.append(
            {
                "start": min(head, tail),
                "end": max(head, tail),
                "label": html.escape(r["relation"]),
                "dir": "right" if head < tail else "left",
            }
        )
    return displacy.render(
        {"words": words, "arcs": arcs}, style="dep", manual=True, page=False, options={"distance": 140}
    )


def marked_page(text: str, ranges: Iterable[Tuple[int, int, str]], colors: Dict[str, str]) -> str:
    """A displaCy entity page of ``text`` with the given non-overlapping character ranges marked."""
    ents = [{"start": start, "end": end, "label": label} for start, end, label in ranges]
    return displacy_page([{"text": text, "ents": ents, "title": None}], "ent", colors, manual=True)
