"""From words and labels to scored span candidates, across windows, label groups and batches.

Knows nothing of spaCy: ``predict_entities`` offers the official library's text-in,
character-offsets-out call, and the component decodes the same way before placing the
entities on its tokens.
The threshold is applied here, once: what comes out is what decoding chooses from. It is one
number for all, or one per text (a number, or one per label of that text: per-label thresholds).
"""

import numbers
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from .checkpoint import LoadedGLiNER
from .decoding import DEFAULT_THRESHOLD, Candidates, Entities, decode_entities, token_candidates
from .inputs import DEFAULT_BATCH_SIZE, DEFAULT_OVERLAP, InputBuilder, Window, unreadable_label
from .words import Splitter, Words, word_offsets, word_splitter

Runner = Callable[[Dict[str, torch.Tensor]], Any]
# what a runner returned -> the entity logits; relation search reads its own output here
Reader = Callable[[Sequence[Window], Dict[str, torch.Tensor], Any], torch.Tensor]


LabelEncoder = Callable[[Sequence[str]], torch.Tensor]
# a text's threshold: one number, or one per label (in the order of the text's labels)
TextThreshold = Union[float, Sequence[float]]
LABELS_PER_PASS = 64  # label texts per pass of a bi-encoder's labels encoder


class SpanSearch:
    """Scores every span of every text against that text's labels and keeps those above a threshold.

    Span models score spans of up to ``max_width`` words in each window. Token-level
    models score words; each word's scores come from the window that owns it, and
    entities (of any length, across windows too) are read from the whole text's scores.
    Bi-encoders take the labels' vectors from ``embed`` (one pass of the labels encoder
    per distinct label, whatever the number of texts) and run windows without a prompt.
    """

    builder_class = InputBuilder
    reads_relations = False  # relex models prompt relation types too: relation_search.RelationSearch

    def __init__(self, loaded: LoadedGLiNER, overlap: int = DEFAULT_OVERLAP) -> None:
        if loaded.settings.relex != self.reads_relations:
            raise ValueError(
                f"A {loaded.settings.family} GLiNER model is searched by "
                + (
                    "relation_search.RelationSearch (predict_relations)."
                    if loaded.settings.relex
                    else "SpanSearch, not RelationSearch."
                )
            )
        self.loaded = loaded
        self.overlap = overlap
        self.builder = self.builder_class(loaded.tokenizer, loaded.settings, max_tokens(loaded), overlap)

    def __call__(
        self,
        word_lists: Sequence[Sequence[str]],
        labels: Sequence[Sequence[str]],
        threshold: Union[float, Sequence[TextThreshold]],
        batch_size: int,
        run: Optional[Runner] = None,
        embed: Optional[LabelEncoder] = None,
        read: Optional[Reader] = None,
    ) -> List[Candidates]:
        """Candidates (word units) of each text; ``labels[i]`` are the labels of text ``i``.
        ``threshold``: one for all texts, or ``threshold[i]`` for text ``i`` (a number, or
        one per label of ``labels[i]``): a candidate is kept when its score is above its label's.

        ``embed``: bi-encoders only, label texts -> their vectors [C, H] (default
        ``encode_labels``; the component passes its cache). ``read``: each batch's windows,
        tensors and ``run`` output -> the entity logits (default: the output is the logits).
        """
        run = run or self._run
        settings = self.loaded.settings
        limits = _text_thresholds(threshold, labels)
        windows: List[Window] = []
        pieces = self.builder.pieces(word_lists)
        for i, (words, text_labels) in enumerate(zip(word_lists, labels)):
            windows.extend(self.builder.windows(i, words, text_labels, pieces[i]))
        windows.sort(key=lambda w: len(w.input_ids))
        vectors: Dict[tuple, torch.Tensor] = {}
        if settings.bi_encoder and windows:
            wanted = list(dict.fromkeys(label for w in windows for label in labels[w.text]))
            table = dict(zip(wanted, (embed or self.encode_labels)(wanted)))
            vectors = {
                key: torch.stack([table[label] for label in key]) for key in {tuple(labels[w.text]) for w in windows}
            }
        found: List[List[np.ndarray]] = [[] for _ in word_lists]
        # token-level models: every word's scores, read into spans once all windows ran
        word_scores = (
            [np.zeros((len(words), len(text_labels), 3), np.float32) for words, text_labels in zip(word_lists, labels)]
            if settings.token_level
            else []
        )
        device = self.loaded.device
        for b in range(0, len(windows), batch_size):
            batch = windows[b : b + batch_size]
            with torch.inference_mode():  # no autograd bookkeeping at all, unlike no_grad
                tensors = self.builder.collate(batch, device)
                if vectors:
                    tensors["label_embeddings"] = _pad_rows([vectors[tuple(labels[w.text])] for w in batch], device)
                output = run(tensors)
                logits = output if read is None else read(batch, tensors, output)
                if settings.token_level:
                    _store_word_scores(logits, batch, word_scores)
                    continue
                rows_per_window = _above_threshold(logits, tensors, batch, _window_thresholds(limits, batch))
            for w, rows in zip(batch, rows_per_window):
                found[w.text].append(rows)
        if settings.token_level:
            return [token_candidates(scores, limit) for scores, limit in zip(word_scores, limits)]
        return [_merge(parts) for parts in found]

    def _run(self, tensors: Dict[str, torch.Tensor]) -> torch.Tensor:
        self.loaded.network.eval()
        return self.loaded.network(**tensors)

    def encode_labels(self, labels: Sequence[str]) -> torch.Tensor:
        """A bi-encoder's label vectors [C, H], as the official library computes them
        (labels tokenizer with its special tokens, mean of the encoder's outputs)."""
        return encode_labels(self.loaded, labels)


def encode_labels(loaded: LoadedGLiNER, labels: Sequence[str], per_pass: int = LABELS_PER_PASS) -> torch.Tensor:
    """A bi-encoder's label vectors [C, H], in passes of ``per_pass`` labels."""
    if loaded.labels_tokenizer is None:
        raise ValueError("Only bi-encoder GLiNER models encode labels on their own.")
    network, device = loaded.network, loaded.device
    out = []
    specials = (
        loaded.labels_tokenizer.num_special_tokens_to_add()
    )  # a label with no more tokens than these is unreadable
    with torch.inference_mode():
        network.eval()
        for i in range(0, len(labels), per_pass):
            part = list(labels[i : i + per_pass])
            enc = loaded.labels_tokenizer(part, return_tensors="pt", truncation=True, padding="longest")
            for label, length in zip(part, enc["attention_mask"].sum(1).tolist()):
                if length <= specials:
                    raise unreadable_label(label)
            out.append(network.encode_labels(enc["input_ids"].to(device), enc["attention_mask"].to(device)))
    hidden = loaded.settings.hidden_size
    return torch.cat(out) if out else torch.zeros((0, hidden), device=device)


def _pad_rows(matrices: Sequence[torch.Tensor], device: torch.device) -> torch.Tensor:
    """[C_i, H] matrices -> [B, max C, H], zero rows for padding."""
    n = max(m.shape[0] for m in matrices)
    out = matrices[0].new_zeros((len(matrices), n, matrices[0].shape[1]))
    for i, m in enumerate(matrices):
        out[i, : m.shape[0]] = m
    return out.to(device)


def _store_word_scores(logits: torch.Tensor, batch: Sequence[Window], word_scores: List[np.ndarray]) -> None:
    """Token-level: each window's probabilities [words, labels, 3] for the words it owns."""
    probs = torch.sigmoid(logits.float()).cpu().numpy()
    for i, w in enumerate(batch):
        a, z = w.own_start - w.start, w.own_end - w.start
        word_scores[w.text][w.own_start : w.own_end, w.label_offset : w.label_offset + w.n_labels] = probs[
            i, a:z, : w.n_labels
        ]


def _text_thresholds(
    threshold: Union[float, Sequence[TextThreshold]], labels: Sequence[Sequence[str]]
) -> List[Union[float, np.ndarray]]:
    """Each text's threshold: a number, or an array of one per label of the text."""
    if isinstance(threshold, numbers.Real):  # numpy scalars too
        return [float(threshold)] * len(labels)
    if len(threshold) != len(labels):
        raise ValueError(f"{len(threshold)} thresholds for {len(labels)} texts: give one per text (or one number).")
    out: List[Union[float, np.ndarray]] = []
    for limit, text_labels in zip(threshold, labels):
        if isinstance(limit, numbers.Real):
            out.append(float(limit))
            continue
        if len(limit) != len(text_labels):
            raise ValueError(f"{len(limit)} thresholds for {len(text_labels)} labels: give one per label of the text.")
        out.append(np.asarray(limit, dtype=np.float64))
    return out


def _window_thresholds(limits: Sequence[Union[float, np.ndarray]], batch: Sequence[Window]) -> Union[float, np.ndarray]:
    """The thresholds of a batch: one number when every window shares it (compared as the
    official library compares), else [windows, labels] (1.0 for padding: never above)."""
    mine = [limits[w.text] for w in batch]
    if all(isinstance(m, float) for m in mine) and len(set(mine)) == 1:
        return mine[0]
    table = np.ones((len(batch), max(w.n_labels for w in batch)), dtype=np.float64)
    for i, (w, m) in enumerate(zip(batch, mine)):
        table[i, : w.n_labels] = m if isinstance(m, float) else m[w.label_offset : w.label_offset + w.n_labels]
    return table


def _above_threshold(
    logits: torch.Tensor, tensors: Dict[str, torch.Tensor], batch: Sequence[Window], threshold: Union[float, np.ndarray]
) -> List[np.ndarray]:
    """Per window: rows (start, end, label, score) in document coordinates, owned spans only.
    ``threshold``: one number, or [windows, labels] (each window's labels' own)."""
    # half precision is scored in float32; a float64 network keeps float64 scores
    probs = torch.sigmoid(logits.to(torch.promote_types(logits.dtype, torch.float32)))
    if not isinstance(threshold, float):
        threshold = torch.as_tensor(threshold, device=probs.device).to(probs.dtype)[:, None, None, : probs.shape[-1]]
    keep = (probs > threshold) & tensors["span_mask"][..., None] & tensors["label_mask"][:, None, None, :]
    b, s, k, c = keep.nonzero(as_tuple=True)
    scores = probs[b, s, k, c].cpu().numpy().astype(np.float64)
    b, s, k, c = (t.cpu().numpy() for t in (b, s, k, c))
    offset = np.array([w.start for w in batch])[b]
    start = s + offset
    own = (start >= np.array([w.own_start for w in batch])[b]) & (start < np.array([w.own_end for w in batch])[b])
    label = c + np.array([w.label_offset for w in batch])[b]
    rows = np.stack([start, start + k, label, scores], axis=1)[own]
    return [rows[b[own] == i] for i in range(len(batch))]


def _merge(parts: List[np.ndarray]) -> Candidates:
    if not parts:
        return Candidates.empty()
    rows = np.concatenate(parts, axis=0)
    cands = Candidates(
        rows[:, 0].astype(np.int64), rows[:, 1].astype(np.int64), rows[:, 2].astype(np.int64), rows[:, 3]
    )
    return cands.canonical()


def max_tokens(loaded: LoadedGLiNER) -> int:
    """Sub-tokens one encoder pass may hold: the tokenizer's and the position table's limit."""
    limits = [512]
    model_max = getattr(loaded.tokenizer, "model_max_length", None)
    if isinstance(model_max, int) and 0 < model_max < 100_000:
        limits.append(model_max)
    positions = getattr(loaded.network.encoder.config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        limits.append(positions)
    return min(limits)


def unique_labels(labels: Sequence[str]) -> List[str]:
    """Labels de-duplicated in order, as the official library does."""
    return list(dict.fromkeys(labels))


def predict_entities(
    loaded: LoadedGLiNER,
    texts: Sequence[str],
    labels: Sequence[str],
    threshold: float = DEFAULT_THRESHOLD,
    flat_ner: bool = True,
    multi_label: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    search: Optional[SpanSearch] = None,
    splitter: Optional[Splitter] = None,
) -> List[List[dict]]:
    """The official ``GLiNER.inference`` call: entities as dicts with character offsets.

    ``splitter``: the words, by default the checkpoint's splitter as officially (spaCy's, for
    "spacy" and "universal", comes from the spaCy layer: ``alignment.word_splitter``)."""
    search = search or SpanSearch(loaded)
    labels = unique_labels(labels)
    split = split_texts(loaded, texts, splitter)
    found = search([[w for w, _, _ in words] for words in split], [labels] * len(texts), threshold, batch_size)
    return [
        entity_dicts(text, decode_entities(cands, *word_offsets(words), flat=flat_ner, multi_label=multi_label), labels)
        for text, words, cands in zip(texts, split, found)
    ]


def split_texts(loaded: LoadedGLiNER, texts: Sequence[str], splitter: Optional[Splitter] = None) -> List[Words]:
    """Each text's words: ``splitter``'s, by default the checkpoint's splitter, as officially."""
    split_text = splitter or word_splitter(loaded.settings.words_splitter_type)
    return [split_text(t) for t in texts]


def entity_dicts(text: str, ents: Entities, labels: Sequence[str]) -> List[dict]:
    """The official library's entity dicts of one text's decoded entities."""
    return [
        {"start": start, "end": end, "text": text[start:end], "label": labels[label], "score": float(score)}
        for start, end, label, score in zip(
            ents.starts.tolist(), ents.ends.tolist(), ents.words.labels.tolist(), ents.words.scores.tolist()
        )
    ]
