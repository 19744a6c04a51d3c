"""Propagation: a found entity's text taken wherever else the document holds it ("exact"),
and the parts of found names ("parts"), after decoding; in the Doc, the records, redaction
(same numbered placeholder, byte-exact mapping and restore) and the preview."""

import json
import re

import numpy as np
import pytest
import spacy
from helpers.cli import invoke, said  # noqa: E402
from helpers.data import REF_MINILM, ROOT  # noqa: E402

from spacy_gliner.model.decoding import Candidates, Entities
from spacy_gliner.model.propagation import name_parts, propagate
from spacy_gliner.model.words import word_offsets, word_splitter
from spacy_gliner.records import entity_records

PAPER = ROOT / "docs" / "redaction" / "paper.md"


pytestmark = pytest.mark.usefixtures("weights_read_once")  # each checkpoint folder is read once for the module


def found(text, spans):
    """Entities decoded on ``text``'s whitespace words: (first char, end char, label index, score)."""
    words = word_splitter("whitespace")(text)
    starts, ends = word_offsets(words)
    first = {c: i for i, c in enumerate(starts.tolist())}
    last = {c: i for i, c in enumerate(ends.tolist())}
    cands = Candidates(
        np.array([first[a] for a, _, _, _ in spans]),
        np.array([last[b] for _, b, _, _ in spans]),
        np.array([c for *_, c, _ in spans]),
        np.array([s for *_, s in spans]),
    )
    return Entities(cands, np.array([a for a, *_ in spans]), np.array([b for _, b, *_ in spans])), starts, ends


def test_parts_are_capitalised_and_three_letters_or_more():
    assert name_parts("Nadi Tomeh") == ["Nadi", "Tomeh"]
    assert name_parts("Aisha O. Bello") == ["Aisha", "Bello"]
    assert name_parts("Jean-Pierre de la Rue") == ["Jean", "Pierre", "Rue"]
    assert name_parts("Li Xu") == []


def test_exact_and_parts_whole_words_only_never_over_a_found_entity():
    text = "Nadi Tomeh met Ada . Tomeh , BTomeh , Tomehs and Nadi Tomeh left Ada Tomeh ."
    a = text.index("Nadi Tomeh")
    ada = text.index("Ada")
    ents, starts, ends = found(text, [(a, a + 10, 0, 0.9), (ada, ada + 3, 1, 0.6)])
    labels = ["person", "city"]
    same, sources = propagate(text, ents, labels, starts, ends, "off")
    assert same is ents and sources == [None, None]
    out, sources = propagate(text, ents, labels, starts, ends, "exact")
    taken = [(text[s:e], labels[c], src) for s, e, c, src in zip(out.starts, out.ends, out.words.labels, sources)]
    assert taken == [
        ("Nadi Tomeh", "person", None),
        ("Ada", "city", None),
        ("Nadi Tomeh", "person", "Nadi Tomeh"),
        ("Ada", "city", "Ada"),
    ]
    assert out.words.scores.tolist() == [0.9, 0.6, 0.9, 0.6]  # the score of the entity it was taken from
    out, sources = propagate(text, ents, labels, starts, ends, "parts")
    taken = [(text[s:e], labels[c], src) for s, e, c, src in zip(out.starts, out.ends, out.words.labels, sources)]
    # "Tomeh" alone twice (not in BTomeh or Tomehs); "Ada" is a city, whose parts are not taken
    assert [t for t in taken if t[2]] == [
        ("Tomeh", "person", "Nadi Tomeh"),
        ("Nadi Tomeh", "person", "Nadi Tomeh"),
        ("Ada", "city", "Ada"),
        ("Tomeh", "person", "Nadi Tomeh"),
    ]
    assert list(out.starts) == sorted(out.starts)
    # words: each entity's words match its characters
    assert all(
        starts[w] == s and ends[e] == x for w, e, s, x in zip(out.words.starts, out.words.ends, out.starts, out.ends)
    )


@pytest.fixture(scope="module")
def person_nlp():
    """The reference checkpoint looking for people at threshold 0.5."""
    nlp = spacy.blank("en")
    nlp.add_pipe("gliner", config={"model": str(REF_MINILM), "labels": ["person"], "threshold": 0.5})
    return nlp


TEXT = "Nadi Tomeh wrote the paper with Pierre Holat. Later, N. Tomeh and P. Holat met in Paris."


def test_component_setting_marks_what_it_took(person_nlp):
    component = person_nlp.get_pipe("gliner")
    plain = person_nlp(TEXT)
    assert "propagated" not in plain.spans["sc"].attrs  # off: today's output
    base = entity_records(plain, "sc")
    component.propagate = "parts"
    try:
        doc = person_nlp(TEXT)
    finally:
        component.propagate = "off"
    records = entity_records(doc, "sc")
    added = [r for r in records if "propagated" in r]
    assert [r for r in records if "propagated" not in r] == base
    assert {(r["text"], r["propagated"]) for r in added} >= {("Tomeh", "Nadi Tomeh")}
    assert {e.text for e in doc.ents} >= {"Tomeh"} | {r["text"] for r in base}
    with pytest.raises(ValueError, match="propagate must be one of"):
        component.propagate = "yes"


def left(data: bytes, names) -> int:
    text = data.decode("utf8")
    return sum(len(re.findall(rf"(?<!\w){re.escape(n)}(?!\w)", text)) for n in names)


def test_paper_redaction_with_parts_leaves_fewer_names_and_restores(tmp_path):
    original = PAPER.read_bytes()
    runs = {}
    for mode in ("off", "parts"):
        out, mapping, preview = tmp_path / f"{mode}.md", tmp_path / f"{mode}.json", tmp_path / f"{mode}.html"
        args = [
            "redact",
            PAPER,
            "-l",
            "person",
            "-m",
            REF_MINILM,
            "-t",
            "0.3",
            "-p",
            "numbered",
            "-o",
            out,
            "--mapping",
            mapping,
            "--preview",
            preview,
        ]
        result = invoke(*args, "--propagate", mode)
        assert result.exit_code == 0, said(result)
        restored = tmp_path / f"{mode}.restored.md"
        back = invoke("restore", out, "--mapping", mapping, "-o", restored)
        assert back.exit_code == 0, said(back)
        assert restored.read_bytes() == original
        runs[mode] = (out.read_bytes(), json.loads(mapping.read_text()), preview.read_text(encoding="utf8"))
    found = {r["original"] for r in runs["off"][1]["replacements"]}
    names = {p for name in found for p in name_parts(name)} | found
    assert left(runs["parts"][0], names) < left(runs["off"][0], names)
    # every byte outside the replacements is the input's: the mapping rebuilds the output
    text = original.decode("utf8")
    for data, mapping, _ in runs.values():
        pieces, pos = [], 0
        for r in mapping["replacements"]:
            pieces += [text[pos : r["start"]], r["redacted"]]
            pos = r["end"]
        assert "".join(pieces + [text[pos:]]).encode("utf8") == data
    taken = [r for r in runs["parts"][1]["replacements"] if r["propagated"]]
    assert taken
    numbers = {r["original"]: r["placeholder"] for r in runs["parts"][1]["replacements"] if not r["propagated"]}
    for r in taken:  # a part of a name gets the name's number
        assert r["placeholder"] in {
            p for o, p in numbers.items() if r["original"] in name_parts(o) or r["original"] == o
        }
    assert "(propagated)" in runs["parts"][2] and "#ffc04d" in runs["parts"][2]
    assert "(propagated)" not in runs["off"][2]


def test_predict_shows_what_it_took():
    result = invoke("predict", TEXT, "-l", "person", "-m", REF_MINILM, "--propagate", "parts")
    assert result.exit_code == 0, said(result)
    ents = json.loads(result.stdout)["entities"]
    assert any(e.get("propagated") == "Nadi Tomeh" and e["text"] == "Tomeh" for e in ents)
    result = invoke("predict", TEXT, "-l", "person", "-m", REF_MINILM, "--propagate", "always")
    assert result.exit_code == 1 and "propagate must be one of 'off', 'exact', 'parts', got 'always'" in said(result)


def test_propagate_alone_means_exact():
    alone = invoke("predict", TEXT, "-l", "person", "-m", REF_MINILM, "--propagate")
    assert alone.exit_code == 0, said(alone)
    exact = invoke("predict", TEXT, "-l", "person", "-m", REF_MINILM, "--propagate", "exact", "-t", "0.5")
    assert json.loads(alone.stdout) == json.loads(exact.stdout)
    before = invoke("predict", TEXT, "--propagate", "-l", "person", "-m", REF_MINILM)  # followed by an option
    assert before.exit_code == 0 and json.loads(before.stdout) == json.loads(exact.stdout), said(before)
