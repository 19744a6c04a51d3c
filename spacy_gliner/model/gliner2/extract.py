"""GLiNER2 inference: texts and a schema in, entities, classes and relations out.

``Extractor(loaded)(texts, schema, threshold)`` does what gliner2's ``extract`` does for
each text (``include_confidence=True, include_spans=True``): all tasks of the schema in one
forward pass per window, many windows per pass (sorted by length, ``batch_size`` at a
time), long texts in overlapping windows merged as ``extract_long`` merges (see
``decoding``). Results have exact character offsets into the given texts.
"""

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..inputs import DEFAULT_OVERLAP
from ..search import max_tokens
from ..words import Words
from .checkpoint import LoadedGliner2
from .decoding import (
    Classification,
    Entity,
    Extraction,
    Relation,
    TextWords,
    classify,
    deduplicate_edges,
    entities,
    final_relations,
    first_kept,
    merge_windows,
    policy_name,
    thresholded,
)
from .inputs import PromptLayout, Tokens, Window, WindowBatch, check_words, collate, model_words, plan
from .schema import Schema, Task, check_threshold
from .span import SpanTask


class Extractor:
    """Runs a loaded GLiNER2 checkpoint (span or boundary) on texts."""

    def __init__(self, loaded: LoadedGliner2, overlap: int = DEFAULT_OVERLAP) -> None:
        self.loaded = loaded
        self.overlap = overlap
        self.tokens = Tokens(loaded.tokenizer)
        self.max_tokens = max_tokens(loaded)
        self.pad_id = loaded.tokenizer.pad_token_id or 0

    @property
    def architecture(self) -> str:
        return self.loaded.settings.architecture

    def default_policy(self) -> Optional[str]:
        """None for span checkpoints (gliner2's confidence-first greedy), else the config's."""
        if self.architecture == "span":
            return None
        return policy_name(self.loaded.settings.boundary_head["overlap_policy"])

    def words(
        self, texts: Sequence[str], words: Optional[Sequence[Words]] = None, splitter: str = "whitespace"
    ) -> List[Words]:
        """The words the model reads in each text (gliner2's "." added where it adds one)."""
        if words is not None and len(words) != len(texts):
            raise ValueError(f"Got {len(words)} word lists for {len(texts)} texts.")
        if words is not None:
            return [model_words(t, check_words(t, w)) for t, w in zip(texts, words)]
        return [model_words(t, splitter=splitter) for t in texts]

    def windows(
        self,
        texts: Sequence[str],
        schema: Schema,
        words: Optional[Sequence[Words]] = None,
        splitter: str = "whitespace",
    ) -> List[Window]:
        """Every window of every text, in text order."""
        return self._inputs(texts, schema.tasks(), words, splitter)[2]

    def _inputs(
        self, texts: Sequence[str], tasks: List[Task], words: Optional[Sequence[Words]], splitter: str
    ) -> Tuple[PromptLayout, List[Words], List[Window]]:
        """The prompt, each text's model words and every window."""
        layout = self.tokens.prompt(tasks)
        all_words = self.words(texts, words, splitter)
        windows = []
        for i, ws in enumerate(all_words):
            pieces = [self.tokens.ids(w.lower()) for w, _, _ in ws]
            windows += plan(i, ws, pieces, layout, self.max_tokens, self.overlap)
        return layout, all_words, windows

    def __call__(
        self,
        texts: Sequence[str],
        schema: Schema,
        threshold: float = 0.5,
        batch_size: int = 8,
        words: Optional[Sequence[Words]] = None,
        splitter: str = "whitespace",
        overlap_policy: Optional[str] = None,
    ) -> List[Extraction]:
        """One ``Extraction`` per text.

        ``threshold``: for entities and relations without one of their own; ``words``: the
        words of each text as (word, char start, char end), else gliner2's ``splitter``;
        ``overlap_policy``: "flat", "nested", "longest" or "allow" instead of the
        checkpoint's (span checkpoints: confidence-first greedy, non-overlapping).
        """
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise TypeError("texts must be a list of strings.")
        if not isinstance(schema, Schema):
            raise TypeError(f"schema must be a Schema (Schema.build(...)), not {type(schema).__name__}.")
        threshold = check_threshold(threshold, "the call")
        if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, not {batch_size!r}.")
        policy = self.default_policy() if overlap_policy is None else policy_name(overlap_policy)
        tasks = schema.tasks()
        layout, all_words, windows = self._inputs(texts, tasks, words, splitter)
        text_words = [TextWords(t, ws) for t, ws in zip(texts, all_words)]
        decoder = _Decoder(self, schema, tasks, layout, threshold, policy)
        parts: List[List[Tuple[int, Extraction]]] = [[] for _ in texts]
        order = sorted(range(len(windows)), key=lambda i: len(windows[i].input_ids))
        network = self.loaded.network
        network.eval()
        for b in range(0, len(order), batch_size):
            batch = [windows[i] for i in order[b : b + batch_size]]
            with torch.inference_mode():
                tensors = collate(batch, self.pad_id, self.loaded.device)
                found = decoder(tensors, batch, text_words)
            for i, window, extraction in zip(order[b : b + batch_size], batch, found):
                parts[window.text].append((i, extraction))
        return [
            merge_windows(
                [e for _, e in sorted(p, key=lambda x: x[0])],
                schema,
                policy or "disallow",
                self.architecture == "boundary",
            )
            for p in parts
        ]


class _Decoder:
    """Runs the network on a batch of windows and decodes each window, for one schema."""

    def __init__(
        self,
        extractor: Extractor,
        schema: Schema,
        tasks: List[Task],
        layout: PromptLayout,
        threshold: float,
        policy: Optional[str],
    ) -> None:
        self.network = extractor.loaded.network
        self.settings = extractor.loaded.settings
        self.schema, self.tasks, self.policy = schema, tasks, policy
        self.entity_thresholds = schema.entity_thresholds(threshold)
        self.relation_thresholds = schema.relation_thresholds(threshold)
        span_tasks = [(t, task) for t, task in enumerate(tasks) if task.is_span_task]
        self.span_tasks = [task for _, task in span_tasks]
        self.choices = [p for t, task in enumerate(tasks) if not task.is_span_task for p in layout.markers[t]]
        self.span_layout = [
            SpanTask(layout.prompts[t], layout.markers[t], task.kind == "entities") for t, task in span_tasks
        ]
        self.queries = [p for t, _ in span_tasks for p in layout.markers[t]]
        # the (head, tail) query of each relation type, among the queries above
        first = np.cumsum([0] + [len(task.fields) for task in self.span_tasks])
        self.roles = [(int(q), int(q) + 1) for q, task in zip(first, self.span_tasks) if task.kind == "relation"]

    def __call__(self, tensors: WindowBatch, batch: List[Window], text_words: List[Any]) -> List[Extraction]:
        if self.settings.architecture == "span":
            out = self.network(tensors, self.span_layout, self.choices)
            per_window = [self._span(out, b, w, text_words[w.text]) for b, w in enumerate(batch)]
        else:
            out = self.network(tensors, self.queries, self.roles, self.choices)
            per_window = self._boundary(out, batch, text_words)
        classes = self._classes(out.choice_logits, len(batch))
        for extraction, found in zip(per_window, classes):
            extraction.classes = found
        return per_window

    def _classes(self, logits: Optional[torch.Tensor], n: int) -> List[List[Classification]]:
        if logits is None:
            return [[] for _ in range(n)]
        temperature = (
            self.settings.boundary_head["classification_temperature"]
            if self.settings.architecture == "boundary"
            else 1.0
        )
        out: List[List[Classification]] = [[] for _ in range(n)]
        start = 0
        for task in self.schema.classes:
            part = logits[:, start : start + len(task.choices)] / temperature
            start += len(task.choices)
            probs = (torch.sigmoid(part) if task.multi_label else torch.softmax(part, dim=-1)).float().cpu().numpy()
            for b in range(n):
                out[b].append(classify(task, probs[b]))
        return out

    def _span(self, out: Any, b: int, window: Window, words: TextWords) -> Extraction:
        probs = out.probs[b].float().cpu().numpy()
        n_words = window.end - window.start
        extraction = Extraction()
        column = 0
        for task, count in zip(self.span_tasks, out.counts[b]):
            width = count * len(task.fields)
            part = probs[:, :, column : column + width]
            column += width
            if not count:
                continue
            if task.kind == "entities":
                thresholds = [self.entity_thresholds[label] for label in task.fields]
                extraction.entities += entities(
                    thresholded(part, n_words, thresholds), task.fields, self.policy, window.start, words
                )
                continue
            # the columns are head, tail, head, tail... (one pair per instance); an argument is
            # the first span decoding keeps, as gliner2 takes it
            spans = thresholded(part, n_words, [self.relation_thresholds[task.name]] * width)
            found = []
            for head_spans, tail_spans in zip(spans[0::2], spans[1::2]):
                kept = [first_kept(head_spans, self.policy), first_kept(tail_spans, self.policy)]
                if None not in kept:
                    head, tail = (words.raw(window.start + s, window.start + e, score) for score, s, e in kept)
                    if head is not None and tail is not None:
                        found.append(Relation(task.name, head, tail, min(head.score, tail.score)))
            extraction.relations += list(dict.fromkeys(final_relations(found, words)))
        return extraction

    def _boundary(self, out: Any, batch: List[Window], text_words: List[TextWords]) -> List[Extraction]:
        extractions = [Extraction() for _ in batch]
        s = self.settings.boundary_head
        candidates = out.candidates
        if candidates is None:
            return extractions
        labels = [label for task in self.span_tasks if task.kind == "entities" for label in task.fields]
        if labels:  # the entity queries come first
            n = len(labels)
            probs = torch.sigmoid(candidates.logits[:, :n] / s["pair_temperature"])
            valid = candidates.valid[:, :n]
            thresholds = torch.tensor(
                [self.entity_thresholds[label] for label in labels], dtype=torch.float32, device=probs.device
            )
            keep = valid & (probs >= thresholds.to(probs.dtype).view(1, -1, 1))
            if s["adaptive_threshold"] and candidates.count_log_rates is not None:
                predicted = (
                    torch.exp(candidates.count_log_rates[:, :n]).round().long().clamp(min=0, max=probs.shape[-1])
                )
                rank = torch.argsort(
                    torch.argsort(probs.masked_fill(~valid, -1.0e4), dim=-1, descending=True, stable=True), dim=-1
                )
                keep = keep | (valid & (rank < predicted.unsqueeze(-1)))
            if candidates.null_logits is not None:  # compared in float64, as gliner2 compares it
                keep = keep & (
                    torch.sigmoid(candidates.null_logits[:, :n]).double() <= s["abstention_threshold"]
                ).unsqueeze(-1)
            # the kept candidates in (window, query, candidate) order, cut per (window, query)
            spans = candidates.indices[:, :n][keep].cpu()
            rows = list(zip(probs[keep].float().cpu().tolist(), spans[:, 0].tolist(), spans[:, 1].tolist()))
            bounds = [0] + keep.sum(-1).flatten().cumsum(0).tolist()
            scored = [[rows[bounds[b * n + q] : bounds[b * n + q + 1]] for q in range(n)] for b in range(len(batch))]
            for b, window in enumerate(batch):
                extractions[b].entities = entities(
                    scored[b], labels, self.policy or "disallow", window.start, text_words[window.text]
                )
        if out.pairs is not None and len(out.pairs.window):
            self._boundary_relations(out.pairs, batch, text_words, extractions)
        return extractions

    def _boundary_relations(
        self, pairs: Any, batch: List[Window], text_words: List[TextWords], extractions: List[Extraction]
    ) -> None:
        names = [task.name for task in self.span_tasks if task.kind == "relation"]
        scores = (
            torch.sigmoid(pairs.logits / self.settings.boundary_head["relation_temperature"]).float().cpu().tolist()
        )
        rows = zip(
            pairs.window.cpu().tolist(),
            pairs.relation.cpu().tolist(),
            pairs.head.cpu().tolist(),
            pairs.tail.cpu().tolist(),
            pairs.head_prob.float().cpu().tolist(),
            pairs.tail_prob.float().cpu().tolist(),
            scores,
        )
        edges: Dict[Tuple[int, str], List[Relation]] = {}
        for b, r, (hs, he), (ts, te), head_prob, tail_prob, score in rows:
            name = names[r]
            if score < self.relation_thresholds[name]:
                continue
            window = batch[b]
            words = text_words[window.text]
            head = words.raw(window.start + hs, window.start + he, head_prob)
            tail = words.raw(window.start + ts, window.start + te, tail_prob)
            if head is not None and tail is not None:
                edges.setdefault((b, name), []).append(Relation(name, head, tail, score))
        for (b, _), found in edges.items():
            extractions[b].relations += final_relations(deduplicate_edges(found), text_words[batch[b].text])


__all__ = ["Extractor", "Extraction", "Entity", "Relation", "Classification", "Schema"]
