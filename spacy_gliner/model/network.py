"""The GLiNER networks in PyTorch: encoder -> word & label vectors -> LSTM -> span or word scores.

One class covers the four official families: span models score every span of up to
``max_width`` words; token-level models (``span_mode: token_level``) score each word as
the start, end and inside of an entity of each label (``TokenScorer``); uni-encoders read
label vectors at the ``<<ENT>>`` markers of the prompt, bi-encoders from a second
encoder run over the label texts alone (``encode_labels``), so their windows carry no prompt.

Parameter names differ from the official library's (``checkpoint.py`` maps them); the
maths is the same. The span head is evaluated in a factorised form: a ReLU acts
elementwise, so the first span layer applied to concat(start, end) splits into a
per-word start part plus a per-word end part, and the last span layer followed by the
dot product with a label vector folds into one product with ``W2^T q``. Per span and
label that is ~4H multiply-adds instead of ~12H^2, with identical results.
"""

import contextlib
import copy
import os
import warnings
from typing import Any, Callable, Dict, Optional, Tuple

import torch
from torch import nn

from .precision import COPY_PRECISIONS
from .settings import GLiNERSettings

# oneDNN runs a bfloat16 LSTM on CPUs with AVX-512 or newer; on older ones (AVX2) it fails
# deep inside torch, so there the LSTM runs in float32 while the rest of the network autocasts.
CPU_BF16_LSTM = torch.backends.cpu.get_cpu_capability() not in ("DEFAULT", "NO AVX", "AVX2")


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

    def forward(
        self, words: torch.Tensor, labels: torch.Tensor, max_width: int, valid: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        """words [B, L, H], labels [B, C, H] (valid [B, L]: real words) -> logits [B, L, K, C]."""
        a, b = self.word_parts(words, valid)  # [B, L, 4H] each
        last = self.out_project[3]
        u = (labels @ last.weight).transpose(1, 2)  # [B, 4H, C]: W2^T q
        bias = labels @ last.bias  # [B, C]
        n_batch, n_words = words.shape[:2]
        dropout = self.out_project[2]
        # Spans running past the padded length are masked anyway: they are not computed.
        out = u.new_zeros((max_width, n_batch, n_words, labels.shape[1]))
        # Without autograd, one buffer serves every width: a fresh multi-megabyte
        # tensor per width costs more in page faults than the maths.
        buffer = None if torch.is_grad_enabled() else torch.empty(a.numel(), dtype=a.dtype, device=a.device)
        for k in range(min(max_width, n_words)):
            rows = n_words - k  # starts whose span of width k ends inside the padded length
            s, e = a[:, :rows], b[:, k:]
            if buffer is None:
                h = torch.relu(s + e)
            else:
                h = torch.add(s, e, out=buffer[: s.numel()].view(s.shape)).relu_()
            out[k, :, :rows] = torch.bmm(dropout(h), u)
        return out.permute(1, 2, 0, 3) + bias[:, None, None, :]

    def span_vectors(self, words: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
        """words [L, H], word indices [E] -> the span representations [E, H] of those spans
        (unfactorised, as the official layer computes them: relation heads read them)."""
        cat = torch.cat([self.project_start(words[starts]), self.project_end(words[ends])], dim=-1)
        return self.out_project(torch.relu(cat))

    def word_parts(
        self, words: torch.Tensor, valid: Optional[torch.Tensor] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Per word, the first output layer's start half (with its bias) and end half."""
        hidden = words.shape[-1]
        first = self.out_project[0]

        def start_end(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            a = nn.functional.linear(torch.relu(self.project_start(x)), first.weight[:, :hidden], first.bias)
            b = nn.functional.linear(torch.relu(self.project_end(x)), first.weight[:, hidden:])
            return a, b

        return _per_word(start_end, words, valid)


class SpanMarker(nn.Module):
    """``marker`` span layer (GLiNER v0): MLP(start) ++ MLP(end) -> ReLU -> Linear."""

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.project_start = _mlp(hidden, 2 * hidden, hidden, dropout)
        self.project_end = _mlp(hidden, 2 * hidden, hidden, dropout)
        self.out_project = nn.Linear(2 * hidden, hidden)

    def forward(
        self, words: torch.Tensor, labels: torch.Tensor, max_width: int, valid: Optional[torch.Tensor] = None
    ) -> torch.Tensor:
        hidden = words.shape[-1]
        w = self.out_project.weight  # [H, 2H]

        def start_end(x: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
            return (
                torch.relu(self.project_start(x)) @ w[:, :hidden].T,
                torch.relu(self.project_end(x)) @ w[:, hidden:].T,
            )

        start, end = _per_word(start_end, words, valid)  # [B, L, H] each
        s = torch.bmm(start, labels.transpose(1, 2))  # [B, L, C]
        e = torch.bmm(end, labels.transpose(1, 2))
        bias = labels @ self.out_project.bias  # [B, C]
        n_words = words.shape[1]
        e = nn.functional.pad(e, (0, 0, 0, max_width - 1))
        out = [s + e[:, k : k + n_words] for k in range(max_width)]
        return torch.stack(out, dim=2) + bias[:, None, None, :]


SPAN_LAYERS = {"markerV0": SpanMarkerV0, "marker": SpanMarker}


class TokenScorer(nn.Module):
    """Token-level head (official ``Scorer``): for each word and label, start, end and inside logits.

    Word and label are each projected to two halves; the MLP reads the first halves and
    their elementwise product of the second halves.
    """

    def __init__(self, hidden: int, dropout: float) -> None:
        super().__init__()
        self.proj_token = nn.Linear(hidden, 2 * hidden)
        self.proj_label = nn.Linear(hidden, 2 * hidden)
        # Linear -> Dropout -> ReLU -> Linear: indices 0 and 3 hold weights, as in GLiNER
        self.out_mlp = nn.Sequential(
            nn.Linear(3 * hidden, 4 * hidden), nn.Dropout(dropout), nn.ReLU(), nn.Linear(4 * hidden, 3)
        )

    def forward(self, words: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """words [B, L, H], labels [B, C, H] -> logits [B, L, C, 3] (start, end, inside).

        The first MLP layer applied to concat(word, label, product) is the sum of three
        products, so the word and label parts are computed once each, not per pair.
        """
        hidden = words.shape[-1]
        tok_a, tok_b = self.proj_token(words).split(hidden, dim=-1)  # [B, L, H] each
        lab_a, lab_b = self.proj_label(labels).split(hidden, dim=-1)  # [B, C, H] each
        first = self.out_mlp[0]
        w_tok, w_lab, w_prod = first.weight.split(hidden, dim=1)
        per_word = nn.functional.linear(tok_a, w_tok, first.bias)  # [B, L, 4H]
        per_label = nn.functional.linear(lab_a, w_lab)  # [B, C, 4H]
        pair = (tok_b[:, :, None, :] * lab_b[:, None, :, :]) @ w_prod.T  # [B, L, C, 4H]
        h = pair + per_word[:, :, None, :] + per_label[:, None, :, :]
        return self.out_mlp[3](torch.relu(self.out_mlp[1](h)))


class GLiNERNetwork(nn.Module):
    """The whole network, any family; inputs come from ``inputs.collate``."""

    def __init__(
        self, settings: GLiNERSettings, encoder: nn.Module, labels_encoder: Optional[nn.Module] = None
    ) -> None:
        super().__init__()
        self.settings = settings
        self.encoder = encoder
        width = encoder.config.hidden_size
        hidden = settings.hidden_size
        self.projection = nn.Linear(width, hidden) if width != hidden else None
        # Bi-encoders hold the LSTM's weights but, as in the official library, never run it.
        self.lstm = (
            nn.LSTM(hidden, hidden // 2, num_layers=settings.num_rnn_layers, batch_first=True, bidirectional=True)
            if settings.num_rnn_layers > 0
            else None
        )
        if settings.token_level:
            self.scorer: Optional[TokenScorer] = TokenScorer(hidden, settings.dropout)
            self.span_layer: Optional[nn.Module] = None
            self.prompt_layer: Optional[nn.Module] = None
        else:
            self.scorer = None
            self.span_layer = SPAN_LAYERS[settings.span_mode](hidden, settings.dropout)
            self.prompt_layer = _mlp(hidden, 4 * hidden, hidden, settings.dropout)
        self.labels_encoder = labels_encoder
        self.labels_projection: Optional[nn.Linear] = None
        if labels_encoder is not None and labels_encoder.config.hidden_size != hidden:
            self.labels_projection = nn.Linear(labels_encoder.config.hidden_size, hidden)
        if settings.bi_encoder and labels_encoder is None:
            raise ValueError("A bi-encoder GLiNER network needs its labels encoder.")
        self.autocast_dtype: Optional[torch.dtype] = None  # set on a "bf16" copy (reduced_precision_copy)

    @classmethod
    def from_encoder_config(
        cls, settings: GLiNERSettings, encoder_config: Any, labels_encoder_config: Any = None
    ) -> "GLiNERNetwork":
        """Random weights with the given encoder architectures (weights are loaded afterwards)."""
        from transformers import AutoModel

        def build(config: Any) -> nn.Module:  # never code named by a checkpoint's config (auto_map)
            return AutoModel.from_config(config, trust_remote_code=False)

        labels_encoder = build(labels_encoder_config) if labels_encoder_config is not None else None
        return cls(settings, build(encoder_config), labels_encoder)

    def forward(self, **inputs: torch.Tensor) -> torch.Tensor:
        """Span logits [B, L, K, C], or for token-level models word logits [B, L, C, 3], of
        ``encode``'s inputs; masks are applied by the caller (decoding or loss)."""
        _, words, labels = self.encode(**inputs)
        return self.score(words, labels, inputs["word_lengths"])

    def encode(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        word_index: torch.Tensor,
        word_has_token: torch.Tensor,
        word_lengths: torch.Tensor,
        label_index: Optional[torch.Tensor] = None,
        label_embeddings: Optional[torch.Tensor] = None,
        **_: Any,
    ) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The encoder's sub-token vectors [B, T, H] (projected), the words [B, L, H] (after
        the LSTM) and the labels' vectors [B, C, H] (before the prompt layer).

        Labels: uni-encoders read them at ``label_index`` in the text's prompt; bi-encoders
        take ``label_embeddings`` [B, C, H] from ``encode_labels`` (zero rows for padding).
        """
        with self._autocast():
            h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if self.projection is not None:
                h = self.projection(h)
            words = _gather(h, word_index) * word_has_token.unsqueeze(-1).to(h.dtype)
            if self.lstm is not None and not self.settings.bi_encoder:
                words = self._run_lstm(words, word_lengths)
            if self.settings.bi_encoder:
                if label_embeddings is None:
                    raise ValueError("A bi-encoder needs label_embeddings (from encode_labels), not a label prompt.")
                labels = label_embeddings.to(words.dtype)
            else:
                labels = _gather(h, label_index)
        return h, words, labels

    def score(self, words: torch.Tensor, labels: torch.Tensor, word_lengths: torch.Tensor) -> torch.Tensor:
        """Span logits [B, L, K, C] or token-level word logits [B, L, C, 3] of ``encode``'s words and labels."""
        with self._autocast():
            if self.scorer is not None:
                return self.scorer(words, labels)
            labels = self.prompt_layer(labels)
            valid = torch.arange(words.shape[1], device=words.device) < word_lengths.to(words.device)[:, None]
            return self.span_layer(words, labels, self.settings.max_width, valid)

    def encode_labels(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Bi-encoders: one vector per label text [N, H], the mean of its tokens' vectors."""
        if self.labels_encoder is None:
            raise ValueError("Only bi-encoder GLiNER models encode labels on their own.")
        with self._autocast():
            h = self.labels_encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            if self.labels_projection is not None:
                h = self.labels_projection(h)
            mask = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    def _autocast(self) -> contextlib.AbstractContextManager:
        """A "bf16" copy runs under a bf16 autocast (see ``reduced_precision_copy``); any other
        network as its caller set (training's bf16 autocast included)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(next(self.parameters()).device.type, dtype=self.autocast_dtype)

    def _run_lstm(self, words: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The bidirectional LSTM over each window's words only (as with packed sequences).

        Each direction runs on a padded batch, which CPU backends process much faster
        than packed sequences: forwards, padding comes after the words and cannot affect
        them; backwards, each sequence is reversed within its own length first.
        """
        if words.device.type == "cpu" and torch.is_autocast_enabled("cpu") and not CPU_BF16_LSTM:
            with torch.autocast("cpu", enabled=False):  # oneDNN has no bf16 LSTM for this CPU
                return self._run_lstm(words.float(), lengths)
        lstm = self.lstm
        n_words = words.shape[1]
        positions = torch.arange(n_words, device=words.device)
        lengths = lengths.to(words.device).clamp(min=1)[:, None]
        reverse = (lengths - 1 - positions).clamp(min=0)[..., None]  # [B, L, 1]: t -> len - 1 - t
        valid = (positions < lengths)[..., None].to(words.dtype)
        x = words
        for layer in range(lstm.num_layers):
            outputs = []
            for suffix in ("", "_reverse"):
                weights = [
                    getattr(lstm, f"{name}_l{layer}{suffix}")
                    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
                ]
                inp = x if not suffix else torch.gather(x, 1, reverse.expand(-1, -1, x.shape[2]))
                zeros = x.new_zeros((1, x.shape[0], lstm.hidden_size))
                out = torch.lstm(inp, (zeros, zeros), weights, True, 1, 0.0, self.training, False, True)[0]
                outputs.append(out if not suffix else torch.gather(out, 1, reverse.expand(-1, -1, out.shape[2])))
            x = torch.cat(outputs, dim=-1) * valid
        return x

    def parameter_groups(self) -> Dict[str, list]:
        """Encoder parameters vs the new GLiNER layers (they train with different learning rates)."""
        groups: Dict[str, list] = {"encoder": [], "head": []}
        for name, param in self.named_parameters():
            groups["encoder" if name.startswith(("encoder.", "labels_encoder.")) else "head"].append(param)
        return groups


def reduced_precision_copy(network: GLiNERNetwork, precision: str) -> GLiNERNetwork:
    """A copy of ``network`` for inference in ``precision``; the float32 original stays the
    one that trains and is saved (official checkpoints hold float32 weights). The copy shares
    every other parameter with ``network``: only the reduced weights are new.

    "bf16": the linear layers' weights in bfloat16, and the copy runs under a bf16 autocast
    (``autocast_dtype``). So the matmuls (linear layers, attention, the span loop) run in bf16
    with no weight cast per call, while what autocast keeps in float32 stays float32: the
    embeddings, the residual sums and LayerNorms of the encoder, softmax. A copy with every
    weight and activation in bf16 changed the entities of 9 of 800 benchmark texts against
    float32 (ref_minilm, threshold 0.3), mostly through the encoder's residual stream and
    LayerNorms rounded to bf16 at each layer; this one 3 of 800, none at 0.5
    (docs/benchmarks.md, "Precision modes"). "int8": dynamic quantization (int8 weights, int8
    activations scaled per batch, float32 results) of the linear layers that ``_int8_linear``
    picks; CPU only (FBGEMM kernels; the architectures check the device).
    """
    if precision not in COPY_PRECISIONS:
        raise ValueError(f"precision must be one of {COPY_PRECISIONS}, got {precision!r}.")
    shared = {id(t): t for t in list(network.parameters()) + list(network.buffers())}
    reduced = copy.deepcopy(network, memo=shared)
    if precision == "bf16":
        for module in reduced.modules():
            if isinstance(module, nn.Linear):
                module.weight = nn.Parameter(module.weight.detach().to(torch.bfloat16), requires_grad=False)
                if module.bias is not None:
                    module.bias = nn.Parameter(module.bias.detach().to(torch.bfloat16), requires_grad=False)
        reduced.autocast_dtype = torch.bfloat16
    else:
        names = {
            name for name, module in reduced.named_modules() if isinstance(module, nn.Linear) and _int8_linear(name)
        }
        with warnings.catch_warnings():  # torch.ao's notice that torchao will replace it
            warnings.simplefilter("ignore")
            torch.ao.quantization.quantize_dynamic(reduced, names, dtype=torch.qint8, inplace=True)
    return reduced.eval()


def _int8_linear(name: str) -> bool:
    """The linear layers that "int8" quantizes: the encoder's attention layers, the projection,
    the prompt layer and the span layer's start/end MLPs. The encoder's feed-forward layers
    stay float32: with one activation scale per batch they moved ref_minilm's scores by up
    to 0.3 (attention and head alone: 0.045). The span layer's output MLP and the token-level
    scorer's first layer stay float32 because the factorised heads slice their weights."""
    if name.startswith("encoder."):
        return "attention" in name
    return not name.startswith(("span_layer.out_project", "scorer.out_mlp.0"))


def _per_word(
    fn: Callable[[torch.Tensor], Tuple[torch.Tensor, ...]], words: torch.Tensor, valid: Optional[torch.Tensor]
) -> Tuple[torch.Tensor, ...]:
    """``fn`` over the real words only, rows of padding left at zero: windows sorted by
    sub-tokens still pad a batch's words by 10-30%, and these layers cost ~4H^2 per word."""
    if valid is None or bool(valid.all()):
        return fn(words)
    outputs = []
    for rows in fn(words[valid]):
        out = rows.new_zeros(words.shape[:2] + rows.shape[1:])
        out[valid] = rows
        outputs.append(out)
    return tuple(outputs)


def _gather(h: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """h [B, T, D], index [B, N] -> [B, N, D]."""
    return torch.gather(h, 1, index.unsqueeze(-1).expand(-1, -1, h.shape[-1]))


def _one_thread_after_fork() -> None:
    """In a forked child (``nlp.pipe(n_process=...)`` on Linux) torch runs on one thread.

    The parent's OpenMP thread pool does not survive ``fork``: libgomp hangs at the
    child's first parallel operation. One thread per process is what multi-process runs
    want anyway (torch's DataLoader workers do the same).
    """
    torch.set_num_threads(1)


os.register_at_fork(after_in_child=_one_thread_after_fork)
