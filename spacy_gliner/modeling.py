"""The GLiNER span model in PyTorch: encoder -> word & label vectors -> LSTM -> span scores.

Parameter names differ from the official library's (``checkpoint.py`` maps them); the
maths is the same. The span head is evaluated in a factorised form: a ReLU acts
elementwise, so the first span layer applied to concat(start, end) splits into a
per-word start part plus a per-word end part, and the last span layer followed by the
dot product with a label vector folds into one product with ``W2^T q``. Per span and
label that is ~4H multiply-adds instead of ~12H^2, with identical results.
"""
from typing import Any, Dict, Optional

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .settings import GLiNERSettings


def _mlp(n_in: int, n_hidden: int, n_out: int, dropout: float) -> nn.Sequential:
    """Linear -> ReLU -> Dropout -> Linear (index 0 and 3 hold weights, as in GLiNER)."""
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(n_hidden, n_out))


class SpanMarkerV0(nn.Module):
    """``markerV0`` span layer (GLiNER v1/v2/v2.1): MLP(start) ++ MLP(end) -> ReLU -> MLP."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.project_start = _mlp(hidden, 4 * hidden, hidden, dropout)
        self.project_end = _mlp(hidden, 4 * hidden, hidden, dropout)
        self.out_project = _mlp(2 * hidden, 4 * hidden, hidden, dropout)

    def forward(self, words: torch.Tensor, labels: torch.Tensor, max_width: int) -> torch.Tensor:
        """words [B, L, H], labels [B, C, H] -> logits [B, L, K, C]."""
        hidden = words.shape[-1]
        first, last = self.out_project[0], self.out_project[3]
        start = torch.relu(self.project_start(words))
        end = torch.relu(self.project_end(words))
        a = nn.functional.linear(start, first.weight[:, :hidden], first.bias)  # [B, L, 4H]
        b = nn.functional.linear(end, first.weight[:, hidden:])  # [B, L, 4H]
        u = labels @ last.weight  # [B, C, 4H]: W2^T q
        bias = labels @ last.bias  # [B, C]
        n_words = words.shape[1]
        b = nn.functional.pad(b, (0, 0, 0, max_width - 1))
        dropout = self.out_project[2]
        out = []
        for k in range(max_width):
            h = dropout(torch.relu(a + b[:, k : k + n_words]))
            out.append(torch.bmm(h, u.transpose(1, 2)))
        return torch.stack(out, dim=2) + bias[:, None, None, :]


class SpanMarker(nn.Module):
    """``marker`` span layer (GLiNER v0): MLP(start) ++ MLP(end) -> ReLU -> Linear."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.project_start = _mlp(hidden, 2 * hidden, hidden, dropout)
        self.project_end = _mlp(hidden, 2 * hidden, hidden, dropout)
        self.out_project = nn.Linear(2 * hidden, hidden)

    def forward(self, words: torch.Tensor, labels: torch.Tensor, max_width: int) -> torch.Tensor:
        hidden = words.shape[-1]
        w = self.out_project.weight  # [H, 2H]
        start = torch.relu(self.project_start(words)) @ w[:, :hidden].T  # [B, L, H]
        end = torch.relu(self.project_end(words)) @ w[:, hidden:].T
        s = torch.bmm(start, labels.transpose(1, 2))  # [B, L, C]
        e = torch.bmm(end, labels.transpose(1, 2))
        bias = labels @ self.out_project.bias  # [B, C]
        n_words = words.shape[1]
        e = nn.functional.pad(e, (0, 0, 0, max_width - 1))
        out = [s + e[:, k : k + n_words] for k in range(max_width)]
        return torch.stack(out, dim=2) + bias[:, None, None, :]


SPAN_LAYERS = {"markerV0": SpanMarkerV0, "marker": SpanMarker}


class GLiNERSpanModel(nn.Module):
    """The whole network; inputs come from ``inputs.collate``."""

    def __init__(self, settings: GLiNERSettings, encoder: nn.Module) -> None:
        super().__init__()
        self.settings = settings
        self.encoder = encoder
        width = encoder.config.hidden_size
        hidden = settings.hidden_size
        self.projection = nn.Linear(width, hidden) if width != hidden else None
        self.lstm = (
            nn.LSTM(hidden, hidden // 2, num_layers=settings.num_rnn_layers, batch_first=True, bidirectional=True)
            if settings.num_rnn_layers > 0
            else None
        )
        self.span_layer = SPAN_LAYERS[settings.span_mode](hidden, settings.dropout)
        self.prompt_layer = _mlp(hidden, 4 * hidden, hidden, settings.dropout)

    @classmethod
    def from_encoder_config(cls, settings: GLiNERSettings, encoder_config: Any) -> "GLiNERSpanModel":
        """Random weights with the given encoder architecture (weights are loaded afterwards)."""
        from transformers import AutoModel

        return cls(settings, AutoModel.from_config(encoder_config))

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_has_token: torch.Tensor,
        word_lengths: torch.Tensor,
        label_index: torch.Tensor,
        **_: Any,
    ) -> torch.Tensor:
        """Span logits [B, L, K, C]; masks are applied by the caller (decoding or loss)."""
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.projection is not None:
            h = self.projection(h)
        words = _gather(h, word_index) * word_has_token.unsqueeze(-1).to(h.dtype)
        if self.lstm is not None:
            words = self._run_lstm(words, word_lengths)
        labels = self.prompt_layer(_gather(h, label_index))
        return self.span_layer(words, labels, self.settings.max_width)

    def _run_lstm(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(words, lengths.cpu().clamp(min=1), batch_first=True, enforce_sorted=False)
        out, _ = self.lstm(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=words.shape[1])
        return out

    def parameter_groups(self) -> Dict[str, list]:
        """Encoder parameters vs the new GLiNER layers (they train with different learning rates)."""
        groups: Dict[str, list] = {"encoder": [], "head": []}
        for name, param in self.named_parameters():
            groups["encoder" if name.startswith("encoder.") else "head"].append(param)
        return groups


def _gather(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """h [B, T, D], index [B, N] -> [B, N, D]."""
    return torch.gather(h, 1, index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))
