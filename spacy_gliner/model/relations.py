"""The relation head of GLiNER relex models, in PyTorch: pairs of entity candidates scored against relation types.

As in the official ``UniEncoderSpanRelexModel`` / ``UniEncoderTokenRelexModel``: the
entity candidates of a pass are its spans whose best label score is above the threshold
(token-level models: the spans their start/end/inside scores make); each candidate is
represented by the markerV0 span layer. Ordered pairs of distinct candidates are all
scored (``relations_layer: none``), or only those a graph convolution over the
candidates finds adjacent (``gcn``). A pair's vector (pair projection of head ++ tail)
is scored against each relation type's vector, read at its ``<<REL>>`` marker.
Parameter names are the official ones: the state dict needs no renaming.
"""

from typing import NamedTuple, Optional, Tuple

import torch
from torch import nn

from .network import GLiNERNetwork, SpanMarkerV0, _gather, _mlp
from .relation_settings import RelationSettings
from .settings import CheckpointError, GLiNERSettings

# pairs scored at once: the pair layer's hidden vectors (4H each) of every pair of a
# window's candidates would take gigabytes where candidates number in the thousands
PAIRS_PER_PASS = 4096


class RelexPass(NamedTuple):
    """What one pass of a relex network gives: entity logits, word vectors and relation-type vectors."""

    logits: torch.Tensor  # [B, L, K, C] span logits, or [B, L, C, 3] token-level logits
    words: torch.Tensor  # [B, L, H]: the span layer's input
    relation_vectors: torch.Tensor  # [B, R, H]


class GCNLayer(nn.Module):
    """One graph convolution with symmetric normalisation: relu(W D^-1/2 (A + I) D^-1/2 X)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.linear = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, adjacency: torch.Tensor) -> torch.Tensor:
        """x [1, E, H], adjacency [1, E, E] (every candidate real: no mask) -> [1, E, H].

        The operations are the official ``SimpleGCNLayer``'s, in its order, so that
        adjacency scores near the threshold fall on the same side."""
        a = adjacency + torch.diag_embed(torch.ones(x.shape[:2], dtype=adjacency.dtype, device=x.device))
        scale = torch.diag_embed(a.sum(dim=-1).clamp(min=1e-6).pow(-0.5))
        return torch.relu(self.linear(torch.bmm(scale @ a @ scale, x)))


class GCNAdjacency(nn.Module):
    """``relations_layer: gcn`` (official ``GCNDecoder``): a dot-product graph, one graph
    convolution over it, and the adjacency of the convolved, projected candidates."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gcn = GCNLayer(hidden)
        self.proj = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [1, E, H] -> adjacency probabilities [1, E, E]."""
        z = self.proj(self.gcn(x, torch.sigmoid(torch.bmm(x, x.transpose(1, 2)))))
        return torch.sigmoid(torch.bmm(z, z.transpose(1, 2)))


class AdjacencyLayer(nn.Module):
    """Holds the adjacency layer under the official parameter names (``relation_rep_layer.*``)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.relation_rep_layer = GCNAdjacency(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relation_rep_layer(x)


class GLiNERRelexNetwork(GLiNERNetwork):
    """A span or token-level GLiNER network with the official relation head."""

    def __init__(
        self, settings: GLiNERSettings, encoder: nn.Module, labels_encoder: Optional[nn.Module] = None
    ) -> None:
        super().__init__(settings, encoder, labels_encoder)
        relations = RelationSettings.of(settings)
        if relations is None:
            raise CheckpointError("A relex GLiNER network needs relations_layer in its settings.")
        self.relations = relations
        hidden, dropout = settings.hidden_size, settings.dropout
        if settings.token_level:  # official token relex models carry a span layer and a prompt layer too
            self.span_layer = SpanMarkerV0(hidden, dropout)
            self.prompt_layer = _mlp(hidden, 4 * hidden, hidden, dropout)
        self.relations_rep_layer = AdjacencyLayer(hidden) if relations.adjacency else None
        self.pair_rep_layer = _mlp(2 * hidden, 4 * hidden, hidden, dropout)

    def forward(self, **inputs: torch.Tensor) -> RelexPass:  # type: ignore[override]
        """Entity logits, words and relation-type vectors (read at ``relation_index``, the
        ``<<REL>>`` markers, from the projected encoder output: no prompt layer, as officially)."""
        if "relation_index" not in inputs:
            raise ValueError(
                "A relex GLiNER network reads relation types from its prompt (relation_index): run it through "
                "relation_search.RelationSearch."
            )
        h, words, labels = self.encode(**inputs)
        return RelexPass(self.score(words, labels, inputs["word_lengths"]), words, _gather(h, inputs["relation_index"]))

    def score(self, words: torch.Tensor, labels: torch.Tensor, word_lengths: torch.Tensor) -> torch.Tensor:
        if self.scorer is not None:  # token relex models score words against prompt-layer labels
            with self._autocast():
                return self.scorer(words, self.prompt_layer(labels))
        return super().score(words, labels, word_lengths)

    def relation_logits(
        self,
        words: torch.Tensor,
        starts: torch.Tensor,
        ends: torch.Tensor,
        relation_vectors: torch.Tensor,
        adjacency_threshold: float,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A window's words [L, H], its entity candidates (first and last word [E]) and the
        relation types [R, H] -> heads [N], tails [N] (indices into the candidates) and
        logits [N, R]; pairs in the official order (by head, then tail)."""
        with self._autocast():
            return self._pair_logits(
                self.span_layer.span_vectors(words, starts, ends), relation_vectors, adjacency_threshold
            )

    def _pair_logits(
        self, spans: torch.Tensor, relation_vectors: torch.Tensor, adjacency_threshold: float
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Candidates' span vectors [E, H] -> heads, tails and logits (see ``relation_logits``)."""
        n = spans.shape[0]
        grid = torch.arange(n, device=spans.device)
        heads, tails = grid.repeat_interleave(n), grid.repeat(n)
        distinct = heads != tails
        heads, tails = heads[distinct], tails[distinct]
        if self.relations_rep_layer is not None and len(heads):
            adjacency = self.relations_rep_layer(spans[None])[0]
            adjacent = adjacency[heads, tails] > adjacency_threshold
            heads, tails = heads[adjacent], tails[adjacent]
        # factorised as the span head is: the first layer on head ++ tail is a head part plus a
        # tail part, computed once per candidate; the last layer and the dot product with each
        # relation type fold into one product with W2^T r. Per pair: 4H adds and 4H x R products.
        first, last = self.pair_rep_layer[0], self.pair_rep_layer[3]
        head_part, tail_part = first.weight.split(spans.shape[-1], dim=1)
        as_head = nn.functional.linear(spans, head_part, first.bias)  # [E, 4H]
        as_tail = nn.functional.linear(spans, tail_part)
        types = relation_vectors @ last.weight  # [R, 4H]
        bias = relation_vectors @ last.bias  # [R]
        logits = [
            torch.relu(as_head[h] + as_tail[t]) @ types.T + bias
            for h, t in zip(heads.split(PAIRS_PER_PASS), tails.split(PAIRS_PER_PASS))
        ]
        return heads, tails, torch.cat(logits) if logits else spans.new_zeros((0, relation_vectors.shape[0]))
