"""GLiNER2's small layers, with its parameter names (so its weights load as they are).

``mlp`` is gliner2's ``create_mlp``; the count layers turn a task's field vectors into one
set of query vectors per predicted instance (``count``): a GRU unrolled over learned step
embeddings, then a projection (``count_lstm``), a mixture of experts (``count_lstm_moe``) or
a small transformer across the fields (``count_lstm_v2``). Inference only.
"""

from typing import List, Sequence, Tuple

import torch
from torch import nn

MAX_COUNT = 20  # instances one task can hold (gliner2's count head has 20 classes: 0-19)

_ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU}


def mlp(n_in: int, hidden: Sequence[int], n_out: int, dropout: float = 0.0, activation: str = "relu") -> nn.Sequential:
    """Linear -> activation (-> Dropout when ``dropout`` > 0) per hidden layer, then Linear."""
    layers: List[nn.Module] = []
    for size in hidden:
        layers += [nn.Linear(n_in, size), _ACTIVATIONS[activation]()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        n_in = size
    layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


class GRU(nn.Module):
    """One GRU layer with ``nn.GRU``'s parameter names, unrolled step by step as gliner2 does."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.weight_ih_l0 = nn.Parameter(torch.empty(3 * size, size))
        self.weight_hh_l0 = nn.Parameter(torch.empty(3 * size, size))
        self.bias_ih_l0 = nn.Parameter(torch.empty(3 * size))
        self.bias_hh_l0 = nn.Parameter(torch.empty(3 * size))

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x [T, M, D] (steps), h [M, D] (initial state) -> [T, M, D]."""
        gi_all = nn.functional.linear(x, self.weight_ih_l0, self.bias_ih_l0)
        out = []
        for t in range(x.shape[0]):
            i_r, i_z, i_n = gi_all[t].chunk(3, dim=-1)
            h_r, h_z, h_n = nn.functional.linear(h, self.weight_hh_l0, self.bias_hh_l0).chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            h = (1 - z) * torch.tanh(i_n + r * h_n) + z * h
            out.append(h)
        return torch.stack(out)


class CountLayer(nn.Module):
    """Shared part of the count layers: step embeddings and the GRU over them."""

    # fields of different tasks are independent (no attention across them): stackable
    fields_independent = True

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.pos_embedding = nn.Embedding(MAX_COUNT, hidden)
        self.gru = GRU(hidden)

    def steps(self, fields: torch.Tensor, count: int) -> torch.Tensor:
        """fields [M, D] -> GRU states [count, M, D]."""
        pos = self.pos_embedding.weight[:count].unsqueeze(1).expand(count, *fields.shape)
        return self.gru(pos, fields)

    def expand(self, groups: Sequence[Tuple[torch.Tensor, int]]) -> List[torch.Tensor]:
        """Each (fields [M_i, D], count_i) -> queries [count_i, M_i, D], in one pass where the
        layer allows (a step's output never depends on later steps, nor on other fields)."""
        if not groups:
            return []
        if not self.fields_independent:
            return [self(fields, count) for fields, count in groups]
        out = self(torch.cat([fields for fields, _ in groups]), max(count for _, count in groups))
        parts, row = [], 0
        for fields, count in groups:
            parts.append(out[:count, row : row + fields.shape[0]])
            row += fields.shape[0]
        return parts


class CountLSTM(CountLayer):
    """``count_lstm`` (gliner2-base): the GRU's states and the fields, projected."""

    def __init__(self, hidden: int) -> None:
        super().__init__(hidden)
        self.projector = mlp(2 * hidden, [4 * hidden], hidden)

    def forward(self, fields: torch.Tensor, count: int) -> torch.Tensor:
        states = self.steps(fields, count)
        return self.projector(torch.cat([states, fields.unsqueeze(0).expand_as(states)], dim=-1))


class CountLSTMoE(CountLayer):
    """``count_lstm_moe`` (gliner2-large): the GRU's states through a gated mixture of experts."""

    def __init__(self, hidden: int, n_experts: int = 4, ffn_mult: int = 2) -> None:
        super().__init__(hidden)
        inner = hidden * ffn_mult
        self.w1 = nn.Parameter(torch.empty(n_experts, hidden, inner))
        self.b1 = nn.Parameter(torch.zeros(n_experts, inner))
        self.w2 = nn.Parameter(torch.empty(n_experts, inner, hidden))
        self.b2 = nn.Parameter(torch.zeros(n_experts, hidden))
        self.router = nn.Sequential(
            nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, n_experts), nn.Softmax(dim=-1)
        )

    def forward(self, fields: torch.Tensor, count: int) -> torch.Tensor:
        h = self.steps(fields, count)
        gates = self.router(h)  # [T, M, E]
        x = nn.functional.gelu(torch.einsum("lmd,edh->lmeh", h, self.w1) + self.b1)
        x = torch.einsum("lmeh,ehd->lmed", x, self.w2) + self.b2
        return (gates.unsqueeze(-1) * x).sum(dim=2)


class CountLSTMv2(CountLayer):
    """``count_lstm_v2`` (gliner2-multi): a small transformer across the fields of each step,
    so the fields of one task attend to each other: tasks run one by one."""

    fields_independent = False

    def __init__(self, hidden: int) -> None:
        super().__init__(hidden)
        self.transformer = DownscaledTransformer(hidden, 128)

    def forward(self, fields: torch.Tensor, count: int) -> torch.Tensor:
        states = self.steps(fields, count)
        return self.transformer(states + fields.unsqueeze(0).expand_as(states))


class DownscaledTransformer(nn.Module):
    """gliner2's two-layer transformer at a smaller width, with a residual projection back."""

    def __init__(self, size: int, hidden: int, heads: int = 4, layers: int = 2) -> None:
        super().__init__()
        self.in_projector = nn.Linear(size, hidden)
        layer = nn.TransformerEncoderLayer(
            d_model=hidden, nhead=heads, dim_feedforward=hidden * 2, dropout=0.0, batch_first=True
        )
        self.transformer = nn.TransformerEncoder(layer, num_layers=layers, enable_nested_tensor=False)
        self.out_projector = mlp(hidden + size, [size, size], size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_projector(torch.cat([self.transformer(self.in_projector(x)), x], dim=-1))


COUNT_LAYERS = {"count_lstm": CountLSTM, "count_lstm_moe": CountLSTMoE, "count_lstm_v2": CountLSTMv2}
