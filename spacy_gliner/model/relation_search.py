"""Entities and the relations between them, from relex GLiNER models: prompts, windows and decoding.

The official relex prompt reads ``<<ENT>> label ... <<SEP>> <<REL>> type ... <<SEP>>``
before the words; entity labels and relation types are read in the same pass, so they
must fit in one prompt. Entities are searched and decoded as for any span or token-level
model (``SpanSearch``, ``greedy_decode``); in each window, the relation head scores pairs
of that window's entity candidates, and a relation is kept when both its ends are
decoded entities of the text, as officially.

Long texts: relations are found inside each window. A relation between two spans is
read from one window only: the window that owns the head's first word if it holds the
tail whole, else the first window that holds both. Spans that no window holds together
get no relation: the model never reads them in one pass.
"""

import numbers
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch

from .checkpoint import LoadedGLiNER
from .decoding import DEFAULT_THRESHOLD, Candidates, Entities, decode_entities
from .inputs import DEFAULT_BATCH_SIZE, DEFAULT_OVERLAP, InputBuilder, Window
from .relation_settings import RelationSettings
from .relations import RelexPass
from .search import Runner, SpanSearch, TextThreshold, _text_thresholds, entity_dicts, split_texts, unique_labels
from .words import Splitter, word_offsets

# (head first word, head last word, tail first word, tail last word, relation type, score): document words
RelationRow = Tuple[int, int, int, int, int, float]


class RelexInputBuilder(InputBuilder):
    """Windows whose prompt holds the entity labels, then the relation types of their text
    (``relation_types[text]``, set by ``RelationSearch`` for each call)."""

    def __init__(self, tokenizer, settings, max_tokens: int, overlap: int = DEFAULT_OVERLAP) -> None:
        super().__init__(tokenizer, settings, max_tokens, overlap)
        self.relations = RelationSettings.of(settings)
        self.rel_id = tokenizer.convert_tokens_to_ids(self.relations.rel_token)
        self.relation_types: Sequence[Sequence[str]] = ()
        self._text = 0
        self._markers: Dict[int, List[int]] = {}  # text -> sub-token positions of its relation markers

    def windows(
        self, text: int, words: Sequence[str], labels: Sequence[str], pieces: Optional[List[List[int]]] = None
    ) -> List[Window]:
        self._text = text
        return super().windows(text, words, labels, pieces)

    def label_groups(self, labels: Sequence[str]) -> List[Tuple[int, List[int], List[int]]]:
        """One group: the entity prompt (ending with its separator), the relation prompt and a separator."""
        groups = super().label_groups(labels)
        types = list(self.relation_types[self._text])
        if types:
            super().label_groups(types)  # reads (and checks) each type's sub-tokens into the cache
        first, prompt, label_markers = groups[0]
        markers = []
        for name in types:
            markers.append(len(self.prefix) + len(prompt) + (0 if self.relations.embed_rel_token else 1))
            prompt = prompt + [self.rel_id] + self._label_pieces[name]
        prompt = prompt + [self.sep_id]
        if len(groups) > 1 or len(prompt) > self.max_prompt_tokens:
            raise ValueError(
                f"{len(labels)} entity labels and {len(types)} relation types do not fit in one prompt of this model "
                f"(at most {self.max_prompt_tokens} sub-tokens of its {self.max_tokens} a pass). A relex model reads "
                "them all in the same pass: use fewer or shorter labels and relation types."
            )
        self._markers[self._text] = markers
        return [(first, prompt, label_markers)]

    def collate(self, windows: Sequence[Window], device: torch.device) -> Dict[str, torch.Tensor]:
        tensors = super().collate(windows, device)
        index = torch.zeros((len(windows), max(len(self._markers[w.text]) for w in windows)), dtype=torch.long)
        for i, w in enumerate(windows):
            index[i, : len(self._markers[w.text])] = torch.tensor(self._markers[w.text], dtype=torch.long)
        tensors["relation_index"] = index.to(device)
        return tensors


class RelationSearch(SpanSearch):
    """``SpanSearch`` for relex models: entity candidates of each text, and the relations
    above the threshold between the candidates of each window (``RelationRow``)."""

    builder_class = RelexInputBuilder
    reads_relations = True

    def __call__(  # type: ignore[override]
        self,
        word_lists: Sequence[Sequence[str]],
        labels: Sequence[Sequence[str]],
        relations: Sequence[Sequence[str]],
        threshold: Union[float, Sequence[TextThreshold]],
        batch_size: int,
        relation_threshold: Optional[float] = None,
        adjacency_threshold: Optional[float] = None,
        run: Optional[Runner] = None,
    ) -> Tuple[List[Candidates], List[List[RelationRow]]]:
        """``relations[i]``: the relation types of text ``i``. ``threshold`` as for ``SpanSearch``
        (per text, per label: a window's entity candidates are the spans above their label's);
        both other thresholds default to ``threshold`` where it is one number."""
        if len(relations) != len(word_lists):
            raise ValueError(
                f"{len(word_lists)} texts need {len(word_lists)} lists of relation types, not {len(relations)}."
            )
        if not isinstance(threshold, numbers.Real) and (relation_threshold is None or adjacency_threshold is None):
            raise ValueError(
                "With a threshold per text or per label, give relation_threshold and adjacency_threshold as numbers."
            )
        relation_threshold = threshold if relation_threshold is None else relation_threshold
        adjacency_threshold = threshold if adjacency_threshold is None else adjacency_threshold
        limits = _text_thresholds(threshold, labels)
        self.builder.relation_types = relations
        found: List[List[Tuple[Window, List[RelationRow]]]] = [[] for _ in word_lists]

        def read(batch: Sequence[Window], tensors: Dict[str, torch.Tensor], output: RelexPass) -> torch.Tensor:
            for i, w in enumerate(batch):
                rows = self._window_relations(
                    w, output, i, tensors["span_mask"][i], limits[w.text], relation_threshold, adjacency_threshold
                )
                found[w.text].append((w, rows))
            return output.logits

        candidates = super().__call__(word_lists, labels, threshold, batch_size, run=run, read=read)
        return candidates, [_one_window_each(parts) for parts in found]

    def _window_relations(
        self,
        w: Window,
        output: RelexPass,
        i: int,
        span_mask: torch.Tensor,
        threshold: Union[float, np.ndarray],
        relation_threshold: float,
        adjacency_threshold: float,
    ) -> List[RelationRow]:
        """The relations above ``relation_threshold`` between the entity candidates of window ``i``
        of the batch; ``threshold``: one number, or one per label of the window's text."""
        network = self.loaded.network
        n_words, n_types = w.end - w.start, len(self.builder.relation_types[w.text])
        logits = output.logits[i].float()
        limit: Union[float, torch.Tensor] = threshold
        if not isinstance(threshold, float):  # [labels], broadcast over the last axis but one (token-level) or the last
            limit = torch.as_tensor(
                threshold[w.label_offset : w.label_offset + w.n_labels], dtype=logits.dtype, device=logits.device
            )
        if self.loaded.settings.token_level:
            starts, ends = token_spans(
                torch.sigmoid(logits[:n_words, : w.n_labels]), limit if isinstance(limit, float) else limit[:, None]
            )
        else:  # spans with a label above its threshold (the best label above one threshold), by start then width
            above = (torch.sigmoid(logits[..., : w.n_labels]) > limit).any(dim=-1)
            starts, widths = (above & span_mask).nonzero(as_tuple=True)
            ends = starts + widths
        if len(starts) < 2 or not n_types:
            return []
        heads, tails, scores = network.relation_logits(
            output.words[i], starts, ends, output.relation_vectors[i, :n_types], adjacency_threshold
        )
        probs = torch.sigmoid(scores.float())
        pair, kind = (probs > relation_threshold).nonzero(as_tuple=True)  # by pair, then relation type
        head, tail = heads[pair], tails[pair]
        bounds = [(starts[head] + w.start).tolist(), (ends[head] + w.start).tolist()]
        bounds += [(starts[tail] + w.start).tolist(), (ends[tail] + w.start).tolist()]
        return list(zip(*bounds, kind.tolist(), probs[pair, kind].tolist()))


def token_spans(probs: torch.Tensor, threshold: Union[float, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
    """Token-level entity candidates of a window (probabilities [words, labels, 3]) as the
    official ``extract_spans_from_tokens``: a start and a later end of the same label with
    every word between inside (all strictly above the threshold), one per label, in the
    official order (start, label, end); spans of several labels come once per label."""
    above = probs > threshold
    s_pos, s_cls = above[..., 0].nonzero(as_tuple=True)
    e_pos, e_cls = above[..., 1].nonzero(as_tuple=True)
    si, ei = ((s_cls[:, None] == e_cls) & (s_pos[:, None] <= e_pos)).nonzero(as_tuple=True)
    starts, ends, label = s_pos[si], e_pos[ei], s_cls[si]
    inside = torch.nn.functional.pad(above[..., 2].long().cumsum(dim=0), (0, 0, 1, 0))  # [words + 1, labels]
    whole = inside[ends + 1, label] - inside[starts, label] == ends - starts + 1
    return starts[whole], ends[whole]


def _one_window_each(parts: List[Tuple[Window, List[RelationRow]]]) -> List[RelationRow]:
    """A text's relation rows, each from the one window that reads it (see the module's docstring),
    in document order of the windows."""
    windows = sorted((w for w, _ in parts), key=lambda w: w.start)

    def reader(hs: int, he: int, ts: int, te: int) -> Window:
        owner = next(w for w in windows if w.own_start <= hs < w.own_end)
        if owner.start <= ts and te < owner.end:
            return owner
        return next(w for w in windows if w.start <= min(hs, ts) and max(he, te) < w.end)

    out: List[RelationRow] = []
    for w, rows in sorted(parts, key=lambda part: part[0].start):
        out.extend(row for row in rows if len(windows) == 1 or reader(*row[:4]) is w)
    return out


def predict_relations(
    loaded: LoadedGLiNER,
    texts: Sequence[str],
    labels: Sequence[str],
    relations: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    relation_threshold: Optional[float] = None,
    adjacency_threshold: Optional[float] = None,
    flat_ner: bool = True,
    multi_label: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    search: Optional[RelationSearch] = None,
    splitter: Optional[Splitter] = None,
) -> Tuple[List[List[dict]], List[List[dict]]]:
    """The official relex ``inference`` call: (entities, relations) of each text.

    Entities as ``predict_entities`` gives them; a relation is ``{"head": {"start", "end",
    "text", "type", "entity_idx"}, "tail": {...}, "relation", "score"}`` with character
    offsets and ``entity_idx`` the index of that end in the text's entities. Labels and
    relation types are the texts the model reads (the component maps descriptions to
    names, as for entities); ``splitter`` as for ``predict_entities``.
    """
    search = search or RelationSearch(loaded)
    labels, relations = unique_labels(labels), unique_labels(relations)
    split = split_texts(loaded, texts, splitter)
    word_lists = [[w for w, _, _ in words] for words in split]
    n = len(texts)
    found, rows = search(
        word_lists, [labels] * n, [relations] * n, threshold, batch_size, relation_threshold, adjacency_threshold
    )
    entities_out, relations_out = [], []
    for text, words, cands, text_rows in zip(texts, split, found, rows):
        decoded = decode_entities(cands, *word_offsets(words), flat=flat_ner, multi_label=multi_label)
        entities = entity_dicts(text, decoded, labels)
        out = [
            {"head": _end(entities, head), "tail": _end(entities, tail), "relation": relations[kind], "score": score}
            for head, tail, kind, score in entity_relations(decoded, text_rows)
        ]
        entities_out.append(entities)
        relations_out.append(out)
    return entities_out, relations_out


def entity_relations(decoded: Entities, rows: Sequence[RelationRow]) -> List[Tuple[int, int, int, float]]:
    """(head entity, tail entity, relation type, score) of each row whose ends are both decoded
    entities (indices into ``decoded``: the first entity of those word bounds, as officially);
    the other rows are dropped, as the official library drops them."""
    index: Dict[Tuple[int, int], int] = {}
    for i, span in enumerate(zip(decoded.words.starts.tolist(), decoded.words.ends.tolist())):
        index.setdefault(span, i)
    out = []
    for hs, he, ts, te, kind, score in rows:
        head, tail = index.get((hs, he)), index.get((ts, te))
        if head is not None and tail is not None:
            out.append((head, tail, kind, score))
    return out


def _end(entities: List[dict], i: int) -> dict:
    e = entities[i]
    return {"start": e["start"], "end": e["end"], "text": e["text"], "type": e["label"], "entity_idx": i}
