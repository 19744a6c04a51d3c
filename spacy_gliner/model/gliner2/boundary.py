"""The ``boundary`` architecture of GLiNER2 ("GLiNER2.5"): sparse start/end pairing.

Every extractive field (an entity type, a relation's head or tail) is a query. Words give
``L + 1`` boundary states; each query scores every boundary as a start and an end and every
word as inside. Candidates are proposed sparsely, either per query (top starts paired with
their best ends and the reverse, ``candidate_pool: per_query``) or once per document from
the union of all queries' boundaries (``shared``, with attention among the candidates and
among the queries), then reranked: one logit per (query, candidate). Relations pair the
best head and tail candidates of each relation type and score each pair with an MLP. A null
(abstention) head and a count head read each query.

This is gliner2's inference path with its parameter names and its arithmetic, order of
operations and tie-breaking (stable sorts), so that its weights give its results; training
losses, gold injection and diagnostics are left out. Structured records (the record head)
are not run: their weights are checked, not loaded.
"""

import math
from dataclasses import dataclass
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .layers import mlp
from .settings import Gliner2Settings

MASK_LOGIT = -1.0e4  # gliner2's finite masking sentinel


def gather_rows(states: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """states [B, N, D] at indices [B, K] -> [B, K, D]."""
    n, dim = states.shape[1], states.shape[-1]
    return states.gather(1, indices.clamp(0, n - 1).unsqueeze(-1).expand(-1, -1, dim))


def gather_states(states: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """states [B, N, D] at indices [B, Q, C] -> [B, Q, C, D]."""
    b, n, dim = states.shape
    q, c = indices.shape[1:3]
    flat = indices.clamp(0, n - 1).reshape(b, q * c, 1).expand(b, q * c, dim)
    return states.gather(1, flat).view(b, q, c, dim)


# ----------------------------------------------------------------------------- encoding


class ResidualSwiGLU(nn.Module):
    def __init__(self, dim: int, multiplier: float) -> None:
        super().__init__()
        hidden = max(1, int(dim * multiplier))
        self.norm = nn.LayerNorm(dim)
        self.input_projection = nn.Linear(dim, 2 * hidden)
        self.output_projection = nn.Linear(hidden, dim)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        value, gate = self.input_projection(self.norm(states)).chunk(2, dim=-1)
        return states + self.output_projection(value * F.silu(gate))


class BoundaryAttentionBlock(nn.Module):
    """Pre-norm self-attention over the valid boundaries (optionally within a window)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads, self.head_dim, self.window = heads, dim // heads, window
        self.norm = nn.LayerNorm(dim)
        self.qkv_projection = nn.Linear(dim, 3 * dim)
        self.output_projection = nn.Linear(dim, dim)

    def forward(self, states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = states.shape
        query, key, value = (
            self.qkv_projection(self.norm(states)).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        )
        allowed = mask.view(b, 1, 1, n).expand(b, 1, n, n)
        positions = torch.arange(n, device=states.device)
        if self.window > 0:
            allowed = allowed & ((positions.view(n, 1) - positions.view(1, n)).abs() <= self.window).view(1, 1, n, n)
        allowed = allowed | torch.eye(n, dtype=torch.bool, device=states.device).view(1, 1, n, n)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=allowed)
        return (states + self.output_projection(attended.transpose(1, 2).reshape(b, n, d))) * mask.unsqueeze(-1).to(
            states.dtype
        )


class BoundaryEncoder(nn.Module):
    """Boundary ``i`` sits between word ``i - 1`` (left; a learned BOS for 0) and word ``i``
    (right; a learned EOS at each text's end)."""

    def __init__(
        self, hidden: int, dim: int, refinement: int, multiplier: float, attention: int, heads: int, window: int
    ) -> None:
        super().__init__()
        self.left_projection = nn.Linear(hidden, dim)
        self.right_projection = nn.Linear(hidden, dim)
        self.output_projection = nn.Linear(2 * dim, dim)
        self.layer_norm = nn.LayerNorm(dim)
        self.attention_blocks = nn.ModuleList(BoundaryAttentionBlock(dim, heads, window) for _ in range(attention))
        self.refinement_blocks = nn.ModuleList(ResidualSwiGLU(dim, multiplier) for _ in range(refinement))
        self.bos_state = nn.Parameter(torch.zeros(hidden))
        self.eos_state = nn.Parameter(torch.zeros(hidden))

    def forward(self, words: torch.Tensor, lengths: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """words [B, L, H], lengths [B] -> states [B, L + 1, d], mask [B, L + 1]."""
        b, n, h = words.shape
        left = torch.cat([self.bos_state.to(words.dtype).expand(b, 1, h), words], dim=1)
        right = torch.cat([words, self.eos_state.to(words.dtype).expand(b, 1, h)], dim=1)
        right[torch.arange(b, device=words.device), lengths.clamp(max=n)] = self.eos_state.to(words.dtype)
        states = self.output_projection(torch.cat([self.left_projection(left), self.right_projection(right)], dim=-1))
        states = self.layer_norm(states)
        mask = torch.arange(n + 1, device=words.device)[None, :] <= lengths[:, None]
        for block in self.attention_blocks:
            states = block(states, mask)
        for block in self.refinement_blocks:
            states = block(states)
        return states * mask.unsqueeze(-1).to(states.dtype), mask


@dataclass
class Marginals:
    start: torch.Tensor  # [B, Q, L + 1]
    end: torch.Tensor  # [B, Q, L + 1]
    inside_prefix: torch.Tensor  # [B, Q, L + 1], float32, centred per query
    inside_mean: torch.Tensor  # [B, Q, 1]


class BoundaryQueryHead(nn.Module):
    """Start, end and inside logits of every boundary/word for every query."""

    def __init__(self, hidden: int, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.start_boundary_projection = nn.Linear(dim, dim)
        self.start_query_projection = nn.Linear(hidden, dim)
        self.end_boundary_projection = nn.Linear(dim, dim)
        self.end_query_projection = nn.Linear(hidden, dim)
        self.inside_text_projection = nn.Linear(hidden, dim)
        self.inside_query_projection = nn.Linear(hidden, dim)

    def forward(self, boundaries, boundary_mask, words, word_mask, queries, query_mask) -> Marginals:
        scale = 1.0 / math.sqrt(self.dim)

        def logits(states: torch.Tensor, projection: nn.Linear, query_projection: nn.Linear) -> torch.Tensor:
            return torch.einsum("bld,bqd->bql", projection(states), query_projection(queries)) * scale

        b_keep = boundary_mask.unsqueeze(1) & query_mask.unsqueeze(-1)
        t_keep = word_mask.unsqueeze(1) & query_mask.unsqueeze(-1)
        start = logits(boundaries, self.start_boundary_projection, self.start_query_projection).masked_fill(
            ~b_keep, MASK_LOGIT
        )
        end = logits(boundaries, self.end_boundary_projection, self.end_query_projection).masked_fill(
            ~b_keep, MASK_LOGIT
        )
        inside = logits(words, self.inside_text_projection, self.inside_query_projection).masked_fill(
            ~t_keep, MASK_LOGIT
        )
        inside = inside.masked_fill(~t_keep, 0.0).float()
        mean = inside.sum(-1, keepdim=True) / t_keep.sum(-1, keepdim=True).clamp_min(1)
        centred = (inside - mean) * t_keep.to(inside.dtype)
        prefix = torch.cat([centred.new_zeros(centred.shape[0], centred.shape[1], 1), centred.cumsum(dim=-1)], dim=-1)
        return Marginals(start, end, prefix, mean)


class Rotary(nn.Module):
    """Rotary embedding by boundary position (``enable_rotary_endpoints``)."""

    def __init__(self, dim: int, base: float) -> None:
        super().__init__()
        self.register_buffer(
            "inv_freq", 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)), persistent=False
        )

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(states.shape[1], device=states.device).view(1, -1)
        angle = positions.unsqueeze(-1).float() * self.inv_freq
        cos, sin = torch.cos(angle), torch.sin(angle)
        even, odd = states[..., 0::2].float(), states[..., 1::2].float()
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2).to(states.dtype)


def select_top(logits: torch.Tensor, valid: torch.Tensor, k: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Top-``k`` by logit, stable (ties by position); invalid slots get index 0, score 0."""
    k = min(k, logits.shape[-1])
    scores, idx = torch.sort(logits.masked_fill(~valid, MASK_LOGIT), dim=-1, descending=True, stable=True)
    scores, idx = scores[..., :k], idx[..., :k]
    ok = torch.gather(valid, -1, idx)
    return torch.where(ok, scores, torch.zeros_like(scores)), torch.where(ok, idx, torch.zeros_like(idx)), ok


def boundary_budget(n: int, base: int, alpha: float, k_max: int, bucket: int) -> int:
    """gliner2's length-adaptive top-k (``boundary_top_k_alpha`` > 0), else ``base``."""
    if alpha <= 0.0:
        return base
    requested = max(base, min(int(math.ceil(alpha * max(n - 1, 0))), k_max))
    return min(k_max, int(math.ceil(requested / bucket) * bucket))


def _conditional_top(
    gated, other_all, anchors, anchor_scores, anchor_valid, boundary_mask, query_mask, marginals, top_k, scale, after
):
    """For each selected anchor (start or end), its best partners on the other side: the
    partner must come after (``after``) or before the anchor. Returns scores, indices."""
    b, q, k, _ = gated.shape
    n = other_all.shape[1]
    block = (
        torch.einsum("bqkd,bed->bqke", gated, other_all) * scale + marginals.unsqueeze(2) + anchor_scores.unsqueeze(-1)
    )
    position = torch.arange(n, device=gated.device).view(1, 1, 1, n)
    order = position > anchors.unsqueeze(-1) if after else position < anchors.unsqueeze(-1)
    keep = boundary_mask.view(b, 1, 1, n) & query_mask.view(b, q, 1, 1) & order & anchor_valid.unsqueeze(-1)
    block = block.masked_fill(~keep, MASK_LOGIT)
    # gliner2 merges into a running top-k that starts as (MASK_LOGIT, index 0) slots
    scores = torch.cat(
        [torch.full((b, q, k, top_k), MASK_LOGIT, device=gated.device, dtype=block.dtype), block], dim=-1
    )
    indices = torch.cat(
        [torch.zeros((b, q, k, top_k), dtype=torch.long, device=gated.device), position.expand(b, q, k, n)], dim=-1
    )
    top, order_idx = torch.sort(scores, dim=-1, descending=True, stable=True)
    return top[..., :top_k], torch.gather(indices, -1, order_idx[..., :top_k])


def deduplicate(
    keys: torch.Tensor, scores: torch.Tensor, valid: torch.Tensor, capacity: int, invalid_key: int
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Unique keys, each with its best score, at most the ``capacity`` best (gliner2's order:
    by score, then key, both stable); returns keys and validity. gliner2 pads the rest of
    ``capacity`` with invalid slots, which every later step masks: they are left out here
    (the valid slots come first), which saves scoring them and changes no result."""
    keys = torch.where(valid, keys, torch.full_like(keys, invalid_key))
    scores = torch.where(valid, scores, torch.full_like(scores, MASK_LOGIT))
    by_score = torch.argsort(scores, dim=-1, descending=True, stable=True)
    keys, scores, valid = keys.gather(-1, by_score), scores.gather(-1, by_score), valid.gather(-1, by_score)
    by_key = torch.argsort(keys, dim=-1, stable=True)
    keys, scores, valid = keys.gather(-1, by_key), scores.gather(-1, by_key), valid.gather(-1, by_key)
    first = torch.ones_like(valid)
    first[..., 1:] = keys[..., 1:] != keys[..., :-1]
    keep = valid & first
    order = torch.argsort(
        torch.where(keep, scores, torch.full_like(scores, MASK_LOGIT)), dim=-1, descending=True, stable=True
    )
    order = order[..., : max(1, min(capacity, int(keep.sum(-1).max())))]
    return keys.gather(-1, order), keep.gather(-1, order)


def _pairs(keys: torch.Tensor, valid: torch.Tensor, n: int) -> torch.Tensor:
    """Keys ``start * n + end`` -> [..., 2] (0, 0 where invalid)."""
    starts = torch.div(keys, n, rounding_mode="floor")
    indices = torch.stack((starts, keys - starts * n), dim=-1)
    return torch.where(valid.unsqueeze(-1), indices, torch.zeros_like(indices))


class SparseBoundaryProposer(nn.Module):
    """Per-query proposals: top starts x their best ends, and top ends x their best starts."""

    def __init__(self, dim: int, hidden: int, settings: Dict) -> None:
        super().__init__()
        self.dim, self.settings = dim, settings
        rotary = settings["enable_rotary_endpoints"]
        self.start_pair_projection = nn.Linear(dim, dim)
        self.end_key_projection = nn.Linear(dim, dim)
        self.start_query_projection = nn.Linear(hidden, dim // 2 if rotary else dim)
        self.rotary = Rotary(dim, settings["rotary_base"]) if rotary else None

    def forward(self, boundaries, boundary_mask, queries, query_mask, marginals: Marginals, scorer_start, scorer_end):
        """-> indices [B, Q, C, 2], valid [B, Q, C], compatibility [B, Q, C] and the pair
        scorer's endpoint states of each candidate."""
        s = self.settings
        b, n, _ = boundaries.shape
        scale = 1.0 / math.sqrt(self.dim)
        budget = [
            boundary_budget(n, s[key], s["boundary_top_k_alpha"], s["boundary_top_k_max"], s["boundary_top_k_bucket"])
            for key in ("start_top_k", "end_top_k")
        ]
        b_valid = boundary_mask.unsqueeze(1) & query_mask.unsqueeze(-1)
        start_all = self.start_pair_projection(boundaries)
        end_all = self.end_key_projection(boundaries)
        if self.rotary is not None:
            start_all, end_all = self.rotary(start_all), self.rotary(end_all)
        gate = torch.sigmoid(self.start_query_projection(queries))
        if self.rotary is not None:
            gate = gate.repeat_interleave(2, dim=-1)
        q = queries.shape[1]

        def side(anchor_logits, partner_logits, anchor_all, partner_all, k, per_anchor, after):
            scores, idx, ok = select_top(anchor_logits, b_valid, k)
            gated = gather_states(anchor_all, idx) * gate.unsqueeze(2)
            top_scores, partner = _conditional_top(
                gated, partner_all, idx, scores, ok, boundary_mask, query_mask, partner_logits, per_anchor, scale, after
            )
            anchors = idx.unsqueeze(-1).expand(-1, -1, -1, per_anchor)
            in_text = boundary_mask.gather(1, partner.reshape(b, -1).clamp(0, n - 1)).view_as(partner)
            starts, ends = (anchors, partner) if after else (partner, anchors)
            valid = ok.unsqueeze(-1) & query_mask.view(b, q, 1, 1) & in_text & (ends > starts)
            return (
                starts.reshape(b, q, -1),
                ends.reshape(b, q, -1),
                top_scores.reshape(b, q, -1),
                valid.reshape(b, q, -1),
            )

        parts = [side(marginals.start, marginals.end, start_all, end_all, budget[0], s["ends_per_start"], True)]
        if s["bidirectional_proposals"]:
            parts.append(
                side(marginals.end, marginals.start, end_all, start_all, budget[1], s["starts_per_end"], False)
            )
        starts, ends, scores, valid = (torch.cat(x, dim=-1) for x in zip(*parts))
        valid = valid & query_mask.unsqueeze(-1)
        keys, keep = deduplicate(starts * n + ends, scores, valid, s["candidate_budget"], n * n)
        indices = _pairs(keys, keep, n)
        si, ej = indices[..., 0], indices[..., 1]
        g_s, score_start = gather_states(torch.cat((start_all, scorer_start), -1), si).split(
            (start_all.shape[-1], scorer_start.shape[-1]), -1
        )
        g_e, score_end = gather_states(torch.cat((end_all, scorer_end), -1), ej).split(
            (end_all.shape[-1], scorer_end.shape[-1]), -1
        )
        compat = ((g_s * gate.unsqueeze(2)) * g_e).sum(-1) * scale
        return indices, keep, torch.where(keep, compat, torch.zeros_like(compat)), score_start, score_end


class SpanContentPooler(nn.Module):
    """Mean (and optional smooth maximum) of a span's word values, from prefix sums."""

    def __init__(self, hidden: int, dim: int, soft_max: bool) -> None:
        super().__init__()
        self.dim, self.soft_max = dim, soft_max
        self.output_dim = dim * (2 if soft_max else 1)
        self.value_projection = nn.Linear(hidden, dim)
        self.layer_norm = nn.LayerNorm(self.output_dim)

    def pool(
        self, words: torch.Tensor, word_mask: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor, dtype: torch.dtype
    ) -> torch.Tensor:
        """The pooled content of the spans [starts, ends) ([B, K] or [B, Q, C] indices)."""
        values = (self.value_projection(words) * word_mask.unsqueeze(-1).to(words.dtype)).float()
        zeros = values.new_zeros(values.shape[0], 1, self.dim)
        gather = gather_rows if starts.dim() == 2 else gather_states
        mean = torch.cat((zeros, values.cumsum(1)), dim=1)
        pooled = (gather(mean, ends) - gather(mean, starts)) / (ends - starts).clamp_min(1).unsqueeze(-1).float()
        if self.soft_max:
            floor = torch.finfo(torch.float32).min / 4.0
            lse = torch.cat(
                (
                    zeros.new_full((zeros.shape[0], 1, self.dim), floor),
                    torch.logcumsumexp(values.masked_fill(~word_mask.unsqueeze(-1), floor), dim=1),
                ),
                dim=1,
            )
            lse_end, lse_start = gather(lse, ends), gather(lse, starts)
            soft = lse_end + torch.log1p(-torch.exp((lse_start - lse_end).clamp(max=-1e-6)))
            pooled = torch.cat((pooled, torch.nan_to_num(soft, neginf=0.0, posinf=0.0)), dim=-1)
        return self.layer_norm(pooled.to(dtype))


def length_features(length: torch.Tensor, text_lengths: torch.Tensor) -> torch.Tensor:
    """log(1 + n), n / text length, 1 / sqrt(n) of a span of n words."""
    return torch.stack((torch.log1p(length), length / text_lengths, torch.rsqrt(length)), dim=-1)


def inside_evidence(marginals: Marginals, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Sum of the inside logits over [start, end) (restored from the centred prefix)."""
    top = marginals.inside_prefix.shape[2] - 1
    starts, ends = starts.clamp(0, top), ends.clamp(0, top)
    interval = torch.gather(marginals.inside_prefix, 2, ends) - torch.gather(marginals.inside_prefix, 2, starts)
    return interval + marginals.inside_mean * (ends - starts).to(interval.dtype)


class SparseBoundaryPairScorer(nn.Module):
    """Per-query reranker: marginals + endpoint compatibility + prior + inside + length."""

    def __init__(self, dim: int, hidden: int, s: Dict) -> None:
        super().__init__()
        pair = s["pair_dim"]
        self.pair_dim, self.heads = pair, s["multihead_pair_compat_heads"]
        self.use_inside, self.endpoint_compat = s["use_inside_evidence"], s["reranker_endpoint_compat"]
        self.rotary_gate = s["enable_rotary_endpoints"]
        self.start_endpoint_projection = nn.Linear(dim, pair)
        self.end_endpoint_projection = nn.Linear(dim, pair)
        self.query_gate = nn.Linear(hidden, pair // 2 if self.rotary_gate else pair)
        self.length_query_projection = nn.Linear(hidden, 3)
        self.query_conditioned = s["query_conditioned_inside_weight"]
        self.inside_weight = nn.Linear(hidden, 1) if self.query_conditioned else nn.Parameter(torch.tensor(1.0))
        self.endpoint_difference_projection = nn.Linear(2 * pair, 1) if s["endpoint_difference_features"] else None
        self.rotary = Rotary(pair, s["rotary_base"]) if self.rotary_gate else None
        self.content_pooler = (
            SpanContentPooler(hidden, s["content_dim"], s["content_soft_max_pool"])
            if s["enable_span_content"]
            else None
        )
        if self.content_pooler is not None:
            self.content_query_projection = nn.Linear(hidden, self.content_pooler.output_dim)
            self.content_bias = nn.Linear(self.content_pooler.output_dim, 1)
        self.compat_mix = nn.Linear(self.heads, 1)

    def project_endpoints(self, boundaries: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        start, end = self.start_endpoint_projection(boundaries), self.end_endpoint_projection(boundaries)
        if self.rotary is not None:
            start, end = self.rotary(start), self.rotary(end)
        return start, end

    def forward(
        self, queries, indices, valid, prior, s_proj, e_proj, marginals: Marginals, text_lengths, words, word_mask
    ):
        starts, ends = indices[..., 0], indices[..., 1]
        gate = torch.sigmoid(self.query_gate(queries))
        if self.rotary_gate:
            gate = gate.repeat_interleave(2, dim=-1)
        gate = gate.unsqueeze(2)
        if self.endpoint_compat:
            per_head = (s_proj * gate * e_proj).reshape(*s_proj.shape[:-1], self.heads, -1).sum(-1)
            score = self.compat_mix(per_head).squeeze(-1) * (1.0 / math.sqrt(self.pair_dim))
        else:
            score = torch.zeros_like(starts, dtype=s_proj.dtype)
        if self.endpoint_difference_projection is not None:
            difference = s_proj - e_proj
            score = score + self.endpoint_difference_projection(
                torch.cat((difference, difference.abs()), dim=-1)
            ).squeeze(-1)
        score = score + torch.gather(marginals.start, 2, starts.clamp(0, marginals.start.shape[2] - 1))
        score = score + torch.gather(marginals.end, 2, ends.clamp(0, marginals.end.shape[2] - 1))
        score = score + torch.where(valid, prior, torch.zeros_like(prior))
        if self.content_pooler is not None:
            content = self.content_pooler.pool(words, word_mask, starts, ends, score.dtype)
            coefficient = self.content_query_projection(queries).unsqueeze(2)
            score = score + (content * coefficient).sum(-1) * (1.0 / math.sqrt(content.shape[-1]))
            score = score + self.content_bias(content).squeeze(-1)
        if self.use_inside:
            interval = inside_evidence(marginals, starts, ends).to(score.dtype)
            weight = (
                self.inside_weight(queries).squeeze(-1).unsqueeze(-1) if self.query_conditioned else self.inside_weight
            )
            score = score + weight * (interval / torch.sqrt((ends - starts).clamp(min=1).to(score.dtype)))
        length = (ends - starts).clamp(min=1).float()
        features = length_features(length, text_lengths.view(-1, 1, 1).float().clamp(min=1))
        score = score + (features.to(queries.dtype) * self.length_query_projection(queries).unsqueeze(2)).sum(-1)
        return score.masked_fill(~valid, MASK_LOGIT)


class DocumentCandidatePool(nn.Module):
    """One span pool per document: the union of all queries' best boundaries, paired, with
    each query's best pairs reserved first."""

    def __init__(self, dim: int, s: Dict) -> None:
        super().__init__()
        self.top_k, self.size, self.quota = s["pool_boundary_top_k"], s["pool_size"], s["min_pool_per_query"]
        self.start_projection = nn.Linear(dim, dim)
        self.end_projection = nn.Linear(dim, dim)

    def forward(self, boundaries, boundary_mask, query_mask, marginals: Marginals):
        """-> indices [B, C, 2], valid [B, C], compatibility [B, C]."""
        b, n, d = boundaries.shape
        q = query_mask.shape[1]
        q_boundary = boundary_mask.unsqueeze(1) & query_mask.unsqueeze(-1)
        union_start = torch.where(q_boundary, marginals.start, torch.full_like(marginals.start, MASK_LOGIT)).amax(1)
        union_end = torch.where(q_boundary, marginals.end, torch.full_like(marginals.end, MASK_LOGIT)).amax(1)
        union_valid = (boundary_mask & query_mask.any(-1, keepdim=True)).unsqueeze(1)
        _, starts, starts_ok = (t[:, 0] for t in select_top(union_start.unsqueeze(1), union_valid, self.top_k))
        _, ends, ends_ok = (t[:, 0] for t in select_top(union_end.unsqueeze(1), union_valid, self.top_k))
        ks, ke = starts.shape[1], ends.shape[1]
        pair_s = starts.unsqueeze(-1).expand(b, ks, ke).reshape(b, -1)
        pair_e = ends.unsqueeze(1).expand(b, ks, ke).reshape(b, -1)
        pair_valid = (
            starts_ok.unsqueeze(-1) & ends_ok.unsqueeze(1) & (ends.unsqueeze(1) > starts.unsqueeze(-1))
        ).reshape(b, -1)
        start_all, end_all = self.start_projection(boundaries), self.end_projection(boundaries)
        compat = (gather_rows(start_all, pair_s) * gather_rows(end_all, pair_e)).sum(-1) / math.sqrt(d)
        union_score = (
            compat + union_start.gather(1, pair_s.clamp(0, n - 1)) + union_end.gather(1, pair_e.clamp(0, n - 1))
        )
        keys, scores, valid = [pair_s * n + pair_e], [union_score], [pair_valid]
        quota = min(self.quota, pair_s.shape[-1])
        if quota:  # each query's best pairs, in a band above every ordinary score
            s_idx = pair_s.clamp(0, n - 1).unsqueeze(1).expand(b, q, -1)
            e_idx = pair_e.clamp(0, n - 1).unsqueeze(1).expand(b, q, -1)
            per_query = marginals.start.gather(2, s_idx) + marginals.end.gather(2, e_idx) + compat.unsqueeze(1)
            per_query_valid = pair_valid.unsqueeze(1) & query_mask.unsqueeze(-1)
            ranked = torch.argsort(
                per_query.masked_fill(~per_query_valid, MASK_LOGIT), dim=-1, descending=True, stable=True
            )[..., :quota]
            bonus = torch.arange(quota, 0, -1, device=boundaries.device, dtype=union_score.dtype)
            keys.insert(0, (s_idx.gather(-1, ranked) * n + e_idx.gather(-1, ranked)).reshape(b, -1))
            scores.insert(
                0, (union_score.new_full((b, q, quota), -MASK_LOGIT * 0.5) + bonus.view(1, 1, quota)).reshape(b, -1)
            )
            valid.insert(0, per_query_valid.gather(-1, ranked).reshape(b, -1))
        selected, ok = deduplicate(torch.cat(keys, -1), torch.cat(scores, -1), torch.cat(valid, -1), self.size, n * n)
        indices = _pairs(torch.where(ok, selected, torch.zeros_like(selected)), ok, n)
        compat = (gather_rows(start_all, indices[..., 0]) * gather_rows(end_all, indices[..., 1])).sum(-1) / math.sqrt(
            d
        )
        return indices, ok, torch.where(ok, compat, torch.zeros_like(compat))


OVERLAP_BUCKETS = 8
MASKED_BUCKET = OVERLAP_BUCKETS  # a key that is not a candidate: attended with MASK_LOGIT


def overlap_buckets(indices: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """The relation of every ordered pair of spans, one of eight (gliner2's precedence);
    ``MASKED_BUCKET`` where the second span is not a valid candidate. Built in int8 (one
    byte a pair: the C x C comparisons are memory-bound), returned as indices."""
    s1, e1 = indices[..., :, None, 0], indices[..., :, None, 1]
    s2, e2 = indices[..., None, :, 0], indices[..., None, :, 1]
    shape = torch.broadcast_shapes(s1.shape, s2.shape)
    out = torch.full(shape, 3, dtype=torch.int8, device=indices.device)  # crossing
    for bucket, case in (
        (6, e1 <= s2),  # disjoint, left
        (7, e2 <= s1),  # disjoint, right
        (1, (s1 > s2) & (e1 < e2)),  # nested inside
        (2, (s1 < s2) & (e1 > e2)),  # nested outside
        (4, (s1 == s2) & (e1 != e2)),  # same start
        (5, (e1 == e2) & (s1 != s2)),  # same end
        (0, (s1 == s2) & (e1 == e2)),  # identical
        (MASKED_BUCKET, ~valid[..., None, :]),
    ):
        out.masked_fill_(case, bucket)
    return out.long()


class OverlapBiasedCandidateAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.output = nn.Linear(dim, dim)
        self.relative_bias = nn.Parameter(torch.zeros(OVERLAP_BUCKETS, heads))
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim))

    def bias_table(self) -> torch.Tensor:
        """[heads, OVERLAP_BUCKETS + 1]: each head's bias per bucket, ``MASK_LOGIT`` for
        ``MASKED_BUCKET``."""
        return torch.cat((self.relative_bias.t(), self.relative_bias.new_full((self.heads, 1), MASK_LOGIT)), 1)

    def forward(self, states: torch.Tensor, bias: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``bias`` [heads, B, C, C]: ``bias_table`` at the candidates' ``overlap_buckets``.

        gliner2's arithmetic for every real candidate, with fewer passes over the C x C
        logits: masked keys get ``MASK_LOGIT`` added rather than set (their weights are 0
        either way: exp(-1e4) is 0 in float32), in place; the rows of masked queries, which
        gliner2 zeroes after the softmax, are zeroed at the end."""
        b, c, d = states.shape
        query, key, value = (
            self.qkv(self.norm1(states)).reshape(b, c, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        )
        logits = torch.matmul(query, key.transpose(-1, -2)).div_(math.sqrt(self.head_dim))
        logits.add_(bias.transpose(0, 1).to(logits.dtype))
        states = states + self.output(torch.matmul(torch.softmax(logits, -1), value).transpose(1, 2).reshape(b, c, d))
        states = states + self.ffn(self.norm2(states))
        return states * mask.unsqueeze(-1).to(states.dtype)


class EvidenceConditionedQueryAttention(nn.Module):
    """Self-attention among the queries, each informed by the candidates it favours."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.query_in = nn.Linear(dim, dim)
        self.evidence_in = nn.Linear(dim, dim)
        self.attention = nn.MultiheadAttention(dim, heads, dropout=0.0, batch_first=True)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(0.0), nn.Linear(4 * dim, dim))

    def forward(self, queries: torch.Tensor, evidence: torch.Tensor, query_mask: torch.Tensor) -> torch.Tensor:
        states = self.query_in(queries) + self.evidence_in(evidence)
        safe = query_mask.clone()
        safe[:, 0] |= ~query_mask.any(-1)
        normed = self.norm1(states)
        states = states + self.attention(normed, normed, normed, key_padding_mask=~safe, need_weights=False)[0]
        states = states + self.ffn(self.norm2(states))
        return states * query_mask.unsqueeze(-1).to(states.dtype)


class SharedPoolScorer(nn.Module):
    """Scores every pooled candidate for every query in one pass (FiLM-conditioned MLP)."""

    def __init__(self, dim: int, hidden: int, s: Dict) -> None:
        super().__init__()
        pair = s["pair_dim"]
        self.start_projection = nn.Linear(dim, pair)
        self.end_projection = nn.Linear(dim, pair)
        self.length_projection = nn.Linear(3, pair)
        self.prior_projection = nn.Linear(1, pair)
        self.content_pooler = (
            SpanContentPooler(hidden, s["content_dim"], s["content_soft_max_pool"])
            if s["enable_span_content"]
            else None
        )
        if self.content_pooler is not None:
            self.content_projection = nn.Linear(self.content_pooler.output_dim, pair)
        self.candidate_norm = nn.LayerNorm(pair)
        heads = s["candidate_attention_heads"]
        self.candidate_layers = nn.ModuleList(
            OverlapBiasedCandidateAttention(pair, heads) for _ in range(s["candidate_attention_layers"])
        )
        self.query_projection = nn.Linear(hidden, pair)
        self.query_layers = nn.ModuleList(
            EvidenceConditionedQueryAttention(pair, heads) for _ in range(s["query_attention_layers"])
        )
        self.film = nn.Linear(pair, 2 * pair)
        self.film_output = nn.Sequential(nn.Linear(pair, 64), nn.GELU(), nn.Dropout(0.0), nn.Linear(64, 1))

    def forward(
        self,
        boundaries,
        queries,
        query_mask,
        indices,
        valid,
        prior,
        marginals: Marginals,
        text_lengths,
        words,
        word_mask,
        use_inside: bool,
    ):
        """-> logits [B, C, Q]."""
        starts, ends = indices[..., 0], indices[..., 1]
        start_rep = gather_rows(self.start_projection(boundaries), starts)
        end_rep = gather_rows(self.end_projection(boundaries), ends)
        dtype = start_rep.dtype
        features = length_features((ends - starts).clamp_min(1).to(dtype), text_lengths[:, None].to(dtype).clamp_min(1))
        candidate = (
            start_rep
            + end_rep
            + self.length_projection(features)
            + self.prior_projection(prior.unsqueeze(-1).to(dtype))
        )
        if self.content_pooler is not None:
            candidate = candidate + self.content_projection(
                self.content_pooler.pool(words, word_mask, starts, ends, candidate.dtype)
            )
        candidate = self.candidate_norm(candidate) * valid.unsqueeze(-1).to(candidate.dtype)
        if len(self.candidate_layers):  # every layer's bias in one lookup
            tables = torch.cat([layer.bias_table() for layer in self.candidate_layers])
            b, c = valid.shape
            biases = tables.index_select(1, overlap_buckets(indices, valid).view(-1))
            for layer, bias in zip(self.candidate_layers, biases.view(len(self.candidate_layers), -1, b, c, c)):
                candidate = layer(candidate, bias, valid)
        query = self.query_projection(queries)
        for layer in self.query_layers:
            weights = torch.softmax(
                torch.einsum("bcd,bqd->bcq", candidate, query).masked_fill(~valid.unsqueeze(-1), MASK_LOGIT), dim=1
            )
            query = layer(query, torch.einsum("bcq,bcd->bqd", weights, candidate), query_mask)
        score = torch.einsum("bcd,bqd->bcq", candidate, query) / math.sqrt(candidate.shape[-1])
        gamma, beta = self.film(query).chunk(2, -1)
        score = score + self.film_output(
            candidate.unsqueeze(2) * (1.0 + gamma.unsqueeze(1)) + beta.unsqueeze(1)
        ).squeeze(-1)
        c = starts.shape[1]
        s_idx = starts.clamp(0, marginals.start.shape[2] - 1).unsqueeze(1).expand(-1, queries.shape[1], c)
        e_idx = ends.clamp(0, marginals.end.shape[2] - 1).unsqueeze(1).expand_as(s_idx)
        score = (
            score + marginals.start.gather(2, s_idx).transpose(1, 2) + marginals.end.gather(2, e_idx).transpose(1, 2)
        )
        if use_inside:
            top = marginals.inside_prefix.shape[2] - 1
            interval = marginals.inside_prefix.gather(2, e_idx.clamp(max=top)) - marginals.inside_prefix.gather(
                2, s_idx.clamp(max=top)
            )
            interval = interval + marginals.inside_mean * (e_idx - s_idx).to(interval.dtype)
            score = score + (interval / torch.sqrt((e_idx - s_idx).clamp_min(1).float())).transpose(1, 2).to(
                score.dtype
            )
        return score.masked_fill(~valid.unsqueeze(-1), MASK_LOGIT).masked_fill(~query_mask.unsqueeze(1), MASK_LOGIT)


@dataclass
class Candidates:
    """Scored candidates of a batch: ``indices`` [B, Q, C, 2] half-open word boundaries,
    ``logits`` [B, Q, C], ``valid`` [B, Q, C]; per query ``null_logits`` and
    ``count_log_rates`` [B, Q] where the checkpoint has those heads."""

    indices: torch.Tensor
    logits: torch.Tensor
    valid: torch.Tensor
    null_logits: Optional[torch.Tensor]
    count_log_rates: Optional[torch.Tensor]


class BoundaryHead(nn.Module):
    def __init__(self, hidden: int, s: Dict) -> None:
        super().__init__()
        self.s = s
        dim = s["boundary_dim"]
        self.boundary_encoder = BoundaryEncoder(
            hidden,
            dim,
            s["boundary_refinement_layers"],
            s["boundary_ffn_multiplier"],
            s["boundary_attention_layers"],
            s["boundary_attention_heads"],
            s["boundary_attention_window"],
        )
        self.boundary_query_head = BoundaryQueryHead(hidden, dim)
        self.boundary_proposer = SparseBoundaryProposer(dim, hidden, s)
        self.pair_scorer = SparseBoundaryPairScorer(dim, hidden, s)
        self.null_projection = nn.Linear(hidden, 1) if s["enable_abstention"] else None
        self.count_head = nn.Linear(hidden, 1) if s["enable_count_head"] else None
        self.shared_pool_builder = DocumentCandidatePool(dim, s)
        self.shared_pool_scorer = SharedPoolScorer(dim, hidden, s)

    def forward(
        self, words: torch.Tensor, lengths: torch.Tensor, queries: torch.Tensor, query_mask: torch.Tensor
    ) -> Candidates:
        word_mask = torch.arange(words.shape[1], device=words.device)[None, :] < lengths[:, None]
        boundaries, boundary_mask = self.boundary_encoder(words, lengths)
        marginals = self.boundary_query_head(boundaries, boundary_mask, words, word_mask, queries, query_mask)
        b, q = queries.shape[:2]
        if self.s["candidate_pool"] == "shared":
            pooled, ok, prior = self.shared_pool_builder(boundaries, boundary_mask, query_mask, marginals)
            logits = self.shared_pool_scorer(
                boundaries,
                queries,
                query_mask,
                pooled,
                ok,
                prior,
                marginals,
                lengths,
                words,
                word_mask,
                self.s["use_inside_evidence"],
            ).transpose(1, 2)
            c = pooled.shape[1]
            indices, valid = pooled.unsqueeze(1).expand(b, q, c, 2), ok.unsqueeze(1).expand(b, q, c)
        else:
            scorer_start, scorer_end = self.pair_scorer.project_endpoints(boundaries)
            indices, valid, prior, s_proj, e_proj = self.boundary_proposer(
                boundaries, boundary_mask, queries, query_mask, marginals, scorer_start, scorer_end
            )
            logits = self.pair_scorer(
                queries, indices, valid, prior, s_proj, e_proj, marginals, lengths, words, word_mask
            )
        null = self.null_projection(queries).squeeze(-1) if self.null_projection is not None else None
        count = self.count_head(queries).squeeze(-1) if self.count_head is not None else None
        return Candidates(indices, logits, valid & query_mask.unsqueeze(-1), null, count)


@dataclass
class RelationPairs:
    """Scored relation pairs, flat: per pair its window, relation type, head and tail
    (half-open word boundaries and their candidate probabilities) and its logit."""

    window: torch.Tensor
    relation: torch.Tensor
    head: torch.Tensor  # [P, 2]
    tail: torch.Tensor  # [P, 2]
    head_prob: torch.Tensor
    tail_prob: torch.Tensor
    logits: Optional[torch.Tensor] = None


class SparseRelationScorer(nn.Module):
    """An MLP over a pair's four endpoint word states, the relation query, order and distance.

    Its first layer is applied by parts: each word's four endpoint projections and each
    relation's projection once, then summed per pair (a window has up to
    ``relation_pair_cap`` pairs per relation type, far more than words): the same sum as
    gliner2's one product over the concatenated features, to float rounding."""

    def __init__(self, hidden: int, relation_dim: int, biaffine: bool) -> None:
        super().__init__()
        self.hidden, self.biaffine = hidden, biaffine
        # always with its Dropout (as gliner2 builds it): the last Linear is at index 3
        self.mlp = nn.Sequential(
            nn.Linear(4 * hidden + relation_dim + 2, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, 1)
        )
        if biaffine:
            self.head_content_projection = nn.Linear(hidden, hidden)
            self.tail_content_projection = nn.Linear(hidden, hidden)
            self.relation_content_gate = nn.Linear(relation_dim, hidden)
            self.content_linear = nn.Linear(2 * hidden + relation_dim, 1)

    def forward(
        self, words: torch.Tensor, lengths: torch.Tensor, relations: torch.Tensor, pairs: RelationPairs
    ) -> torch.Tensor:
        b = pairs.window
        # gliner2 divides by the padded length of its batch; each text's own length is what
        # it computes for a text on its own (``extract``)
        length = lengths[b].clamp(min=1)
        last = (length - 1).clamp(min=0)
        delta = (pairs.tail[:, 0] - pairs.head[:, 0]).to(words.dtype)
        first, hidden = self.mlp[0], self.hidden
        weight = first.weight  # [H, 4H + R + 2]: the columns of the features below, in order
        ends = weight[:, : 4 * hidden].view(hidden, 4, hidden).transpose(0, 1).reshape(4 * hidden, hidden)
        projected = F.linear(words, ends).view(*words.shape[:2], 4, hidden)  # [B, L, endpoint, H]
        positions = (pairs.head[:, 0], pairs.head[:, 1] - 1, pairs.tail[:, 0], pairs.tail[:, 1] - 1)
        features = F.linear(relations, weight[:, 4 * hidden : -2])[b, pairs.relation]
        for k, pos in enumerate(positions):
            features = features + projected[b, torch.minimum(pos.clamp(min=0), last), k]  # the word at pos
        features = (
            features
            + torch.sign(delta).unsqueeze(-1) * weight[:, -2]
            + (delta.abs() / length.to(words.dtype)).unsqueeze(-1) * weight[:, -1]
            + first.bias
        )
        score = self.mlp[1:](features).squeeze(-1)
        if self.biaffine:
            rel = relations[b, pairs.relation]
            prefix = torch.cat(
                (words.new_zeros(words.shape[0], 1, self.hidden), words.float().cumsum(1).to(words.dtype)), dim=1
            )

            def pool(span: torch.Tensor) -> torch.Tensor:
                total = prefix[b, span[:, 1].clamp(0, words.shape[1])] - prefix[b, span[:, 0].clamp(0, words.shape[1])]
                return total / (span[:, 1] - span[:, 0]).clamp_min(1).unsqueeze(-1).to(total.dtype)

            head, tail = self.head_content_projection(pool(pairs.head)), self.tail_content_projection(pool(pairs.tail))
            gate = torch.sigmoid(self.relation_content_gate(rel))
            score = score + (head * gate * tail).sum(-1) / (self.hidden**0.5)
            score = score + self.content_linear(torch.cat((head, tail, rel), dim=-1)).squeeze(-1)
        return score


def relation_pairs(candidates: Candidates, roles: Sequence[Tuple[int, int]], s: Dict) -> Tuple[torch.Tensor, ...]:
    """gliner2's typed pair generation: per relation type, its head role's best candidates x
    its tail role's best, the ``relation_pair_cap`` best products; ``roles``: (head query,
    tail query) of each relation type. Returns flat window, relation, head, tail, probs."""
    probs = torch.sigmoid(candidates.logits)  # no pair temperature here, as in gliner2
    bsz, queries, n_cand = candidates.valid.shape
    r = len(roles)
    device = probs.device
    member = torch.zeros(2, r, queries, dtype=torch.bool, device=device)
    for i, (head, tail) in enumerate(roles):
        member[0, i, head] = member[1, i, tail] = True
    flat_prob = probs.reshape(bsz, 1, -1).expand(-1, r, -1)
    flat_valid = (candidates.valid.reshape(bsz, 1, -1).expand(-1, r, -1)) & (
        flat_prob >= s["relation_argument_proposal_threshold"]
    )
    spans = candidates.indices.reshape(bsz, queries * n_cand, 2)
    floor = torch.finfo(flat_prob.dtype).min
    # candidates in (start, end) order: the tie-break of gliner2's stable ranking
    secondary = torch.arange(queries * n_cand, device=device).view(1, -1).expand(bsz, -1)
    secondary = secondary.gather(-1, torch.argsort(spans[..., 1].gather(-1, secondary), dim=-1, stable=True))
    secondary = secondary.gather(-1, torch.argsort(spans[..., 0].gather(-1, secondary), dim=-1, stable=True))
    secondary = secondary.unsqueeze(1).expand(-1, r, -1)

    def select(role: int, requested: int):
        valid = flat_valid & member[role].unsqueeze(-1).expand(-1, -1, n_cand).reshape(1, r, -1)
        take = min(requested, queries * n_cand)
        ordered = flat_prob.gather(-1, secondary).masked_fill(~valid.gather(-1, secondary), floor)
        ranked = secondary.gather(-1, torch.argsort(ordered, dim=-1, descending=True, stable=True)[..., :take])
        ok, prob = valid.gather(-1, ranked), flat_prob.gather(-1, ranked)
        if take < requested:
            ranked, ok, prob = (
                F.pad(ranked, (0, requested - take)),
                F.pad(ok, (0, requested - take), value=False),
                F.pad(prob, (0, requested - take)),
            )
        chosen = spans.gather(1, ranked.reshape(bsz, -1, 1).expand(-1, -1, 2)).view(bsz, r, requested, 2)
        return prob, chosen, ok

    n_heads, n_tails = s["relation_heads_per_type"], s["relation_tails_per_type"]
    hp, hspan, hok = select(0, n_heads)
    tp, tspan, tok = select(1, n_tails)
    pair_valid = hok.unsqueeze(-1) & tok.unsqueeze(-2) & ~(hspan.unsqueeze(-2) == tspan.unsqueeze(-3)).all(-1)
    flat_score = (hp.unsqueeze(-1) * tp.unsqueeze(-2)).flatten(2)
    flat_valid = pair_valid.flatten(2)
    take = min(s["relation_pair_cap"], flat_score.shape[-1])
    keep = torch.argsort(flat_score.masked_fill(~flat_valid, floor), dim=-1, descending=True, stable=True)[..., :take]
    kept = flat_valid.gather(-1, keep)
    hi, ti = torch.div(keep, n_tails, rounding_mode="floor"), keep % n_tails
    window = torch.arange(bsz, device=device)[:, None, None].expand_as(keep)
    relation = torch.arange(r, device=device)[None, :, None].expand_as(keep)
    head = hspan.gather(2, hi.unsqueeze(-1).expand(*hi.shape, 2))
    tail = tspan.gather(2, ti.unsqueeze(-1).expand(*ti.shape, 2))
    return window[kept], relation[kept], head[kept], tail[kept], hp.gather(2, hi)[kept], tp.gather(2, ti)[kept]


@dataclass
class BoundaryOutput:
    candidates: Optional[Candidates]
    pairs: Optional[RelationPairs]
    choice_logits: Optional[torch.Tensor]  # [B, K]: every classification choice, task after task


class BoundaryNetwork(nn.Module):
    """Encoder, classifier, boundary head and relation scorer (gliner2's parameter names)."""

    def __init__(self, settings: Gliner2Settings, encoder: nn.Module) -> None:
        super().__init__()
        self.settings = settings
        s = settings.boundary_head
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.classifier = mlp(hidden, [2 * hidden], 1, s["dropout"])
        self.boundary_head = BoundaryHead(hidden, s)
        self.relation_dim = 2 * hidden if s["directional_relation_states"] else hidden
        self.relation_scorer = (
            SparseRelationScorer(hidden, self.relation_dim, s["relation_biaffine_content"])
            if s["enable_relations"]
            else None
        )

    def forward(
        self, batch, query_positions: Sequence[int], roles: Sequence[Tuple[int, int]], choice_positions: Sequence[int]
    ) -> BoundaryOutput:
        """``query_positions``: where each query's marker is in the input; ``roles``: the
        (head, tail) query of each relation type; ``choice_positions``: the choice markers."""
        h = self.encoder(input_ids=batch.input_ids, attention_mask=batch.attention_mask).last_hidden_state
        lengths = torch.tensor(batch.word_counts, device=h.device)
        words = h.gather(1, batch.word_index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
        words = words * (torch.arange(words.shape[1], device=h.device)[None, :] < lengths[:, None]).unsqueeze(-1).to(
            h.dtype
        )
        choice_logits = self.classifier(h[:, list(choice_positions)]).squeeze(-1) if choice_positions else None
        if not query_positions:
            return BoundaryOutput(None, None, choice_logits)
        queries = h[:, list(query_positions)]
        query_mask = torch.ones(queries.shape[:2], dtype=torch.bool, device=h.device)
        candidates = self.boundary_head(words, lengths, queries, query_mask)
        pairs = None
        if roles and self.relation_scorer is not None:
            pairs = RelationPairs(*relation_pairs(candidates, roles, self.settings.boundary_head))
            states = queries[:, [list(pair) for pair in roles]]  # [B, R, 2, H]
            rel = (
                states.flatten(2) if self.settings.boundary_head["directional_relation_states"] else states.mean(dim=2)
            )
            pairs.logits = self.relation_scorer(words, lengths, rel, pairs)
        return BoundaryOutput(candidates, pairs, choice_logits)


def unloaded_shapes(settings: Gliner2Settings, hidden: int) -> Dict[str, Tuple[int, ...]]:
    """Tensors of the record head, which is not run: checked against the checkpoint, not loaded."""
    s = settings.boundary_head
    if not s["enable_records"]:
        return {}
    d, n = s["record_dim"], s["record_instance_queries"]
    shapes: Dict[str, Tuple[int, ...]] = {
        "boundary_head.candidate_encoder.weight": (hidden, 2 * s["boundary_dim"]),
        "boundary_head.candidate_encoder.bias": (hidden,),
        "record_decoder.null_embed": (d,),
        "record_decoder.instance_embed": (n, hidden),
        "record_decoder.v_proj.weight": (hidden, hidden),
        "record_decoder.v_proj.bias": (hidden,),
    }
    for name, out in (
        ("inst_proj", d),
        ("field_proj", d),
        ("cand_proj", d),
        ("q_proj", d),
        ("k_proj", d),
        ("object_head", 1),
        ("latent_seed_head", 1),
    ):
        shapes[f"record_decoder.{name}.weight"] = (out, hidden)
        shapes[f"record_decoder.{name}.bias"] = (out,)
    return shapes
