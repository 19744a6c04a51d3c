"""The ``span`` architecture of GLiNER2 (gliner2-base, -large, -multi): a span grid scored
against count-aware queries.

Per task the count head reads the prompt vector ``[P]`` and predicts how many instances the
text holds (0-19); the count layer turns the task's field vectors into one query per field
and instance; every span of up to ``max_width`` words is scored against every query by the
``markerV0`` span layer (GLiNER's, evaluated in its factorised form). Entities use the
first instance only, relations one per predicted instance; a task with a count of 0 finds
nothing. Classification choices are scored by an MLP on their markers.
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
from torch import nn

from ..network import SpanMarkerV0
from .layers import COUNT_LAYERS, MAX_COUNT, mlp
from .settings import Gliner2Settings

SPAN_DROPOUT = 0.1  # gliner2 builds its span layer with this dropout whatever the config says


@dataclass(frozen=True)
class SpanTask:
    """Where a span task's ``[P]`` and field markers are in the input, and whether it is the
    entity task (which reads one instance only)."""

    prompt: int
    fields: Tuple[int, ...]
    entities: bool


@dataclass
class SpanOutput:
    """``counts[b][t]``: instances of span task ``t`` in window ``b`` (entities: 0 or 1);
    ``probs[b]`` [words, max_width, queries]: span probabilities against window ``b``'s
    queries, task after task, instance after instance, field after field;
    ``choice_logits`` [B, K]: every classification choice, task after task."""

    counts: List[List[int]]
    probs: List[torch.Tensor]
    choice_logits: Optional[torch.Tensor]


class SpanNetwork(nn.Module):
    """Encoder, span layer, count head and layer, classifier (gliner2's parameter names)."""

    def __init__(self, settings: Gliner2Settings, encoder: nn.Module) -> None:
        super().__init__()
        self.settings = settings
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.span_rep = nn.ModuleDict({"span_rep_layer": SpanMarkerV0(hidden, SPAN_DROPOUT)})
        self.classifier = mlp(hidden, [2 * hidden], 1)
        self.count_pred = mlp(hidden, [2 * hidden], MAX_COUNT)
        self.count_embed = COUNT_LAYERS[settings.counting_layer](hidden)

    def forward(self, batch, tasks: Sequence[SpanTask], choice_positions: Sequence[int]) -> SpanOutput:
        h = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        words = h.gather(1, batch.word_index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        choice_logits = self.classifier(h[:, list(choice_positions)]).squeeze(-1) if choice_positions else None
        n = h.shape[0]
        counts = [[0] * len(tasks) for _ in range(n)]
        if tasks:
            predicted = self.count_pred(h[:, [t.prompt for t in tasks]]).argmax(-1).tolist()
            counts = [[min(c, 1) if t.entities else c for c, t in zip(row, tasks)] for row in predicted]
        groups, owners = [], []
        for b in range(n):
            for t, task in enumerate(tasks):
                if counts[b][t]:
                    groups.append((h[b, list(task.fields)], counts[b][t]))
                    owners.append(b)
        queries: List[List[torch.Tensor]] = [[] for _ in range(n)]
        for b, expanded in zip(owners, self.count_embed.expand(groups)):
            queries[b].append(expanded.reshape(-1, expanded.shape[-1]))
        return SpanOutput(counts, self._span_probs(words, batch.word_counts, queries), choice_logits)

    def _span_probs(
        self, words: torch.Tensor, word_counts: List[int], queries: List[List[torch.Tensor]]
    ) -> List[torch.Tensor]:
        """Per window, the sigmoid of every span's score against each of its queries [L, K, Q]."""
        n_queries = [sum(q.shape[0] for q in parts) for parts in queries]
        width = self.settings.max_width
        if not any(n_queries):
            return [words.new_zeros((n, width, 0)) for n in word_counts]
        labels = words.new_zeros((words.shape[0], max(n_queries), words.shape[-1]))
        for b, parts in enumerate(queries):
            if parts:
                labels[b, : n_queries[b]] = torch.cat(parts)
        valid = (
            torch.arange(words.shape[1], device=words.device) < torch.tensor(word_counts, device=words.device)[:, None]
        )
        probs = torch.sigmoid(self.span_rep["span_rep_layer"](words, labels, width, valid))  # [B, L, K, Q]
        return [probs[b, :n, :, : n_queries[b]] for b, n in enumerate(word_counts)]
