"""Model inputs: label prompts, windows and padded batches, from GLiNER's words (``words``).

Long texts are cut into overlapping windows of words that fit both the checkpoint's
``max_len`` (words) and the encoder's sub-token limit together with the label prompt; many
labels are split into groups that run as separate passes. Each window "owns" a range of
span starts, so every span is scored exactly once, by a window that holds it with context
on both sides.
"""

import bisect
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .settings import GLiNERSettings

DEFAULT_OVERLAP = 64  # words shared by neighbouring windows (at least 2 * max_width is used)
DEFAULT_BATCH_SIZE = 8  # windows per forward pass (the official library's batch size)
SENTENCE_END = frozenset({".", "!", "?", "…", "。", "！", "？"})


@dataclass
class Window:
    """One encoder pass: a word range of one text with one group of its labels."""

    text: int  # index of the text in the batch being processed
    start: int  # first word (document word index)
    end: int  # one past the last word
    own_start: int  # spans starting in [own_start, own_end) are taken from this window
    own_end: int
    label_offset: int  # index of the group's first label in the text's label list
    n_labels: int
    input_ids: List[int]
    word_index: List[int]  # sub-token position of each word's first piece (0: none)
    word_has_token: List[bool]
    label_index: List[int]  # sub-token position of each label's marker


def unreadable_label(label: str) -> ValueError:
    """A label the tokenizer drops whole (e.g. "\ufffd" for BERT) would be an empty prompt."""
    return ValueError(
        f"The label {label!r} has no sub-token in this model's tokenizer (it drops every character of it), "
        "so the model cannot read it. Use a label with letters or digits."
    )


class InputBuilder:
    """Turns words and labels into windows, with the tokenizer and the checkpoint's limits."""

    def __init__(self, tokenizer, settings: "GLiNERSettings", max_tokens: int, overlap: int = DEFAULT_OVERLAP):
        self.tokenizer = tokenizer
        self.settings = settings
        self.pad_id = tokenizer.pad_token_id or 0
        self.ent_id = tokenizer.convert_tokens_to_ids(settings.ent_token)
        self.sep_id = tokenizer.convert_tokens_to_ids(settings.sep_token)
        self.prefix, self.suffix = _special_affixes(tokenizer)
        self.max_tokens = max_tokens
        self.max_words = settings.max_len
        self.overlap = max(overlap, 2 * settings.max_width)
        self.max_prompt_tokens = (max_tokens - len(self.prefix) - len(self.suffix)) // 2
        self._label_pieces: Dict[str, List[int]] = {}

    def pieces(self, word_lists: Sequence[Sequence[str]]) -> List[List[List[int]]]:
        """Sub-token ids of each word of each list (a word may have none), in one tokenizer call."""
        out: List[List[List[int]]] = [[[] for _ in words] for words in word_lists]
        todo = [i for i, words in enumerate(word_lists) if words]
        if not todo:
            return out
        enc = self.tokenizer(
            [list(word_lists[i]) for i in todo], is_split_into_words=True, add_special_tokens=False, verbose=False
        )
        for row, i in enumerate(todo):
            words = out[i]
            for piece, word in zip(enc["input_ids"][row], enc.word_ids(row)):
                if word is not None:
                    words[word].append(piece)
        return out

    def label_groups(self, labels: Sequence[str]) -> List[Tuple[int, List[int], List[int]]]:
        """Split labels into prompts that fit; each is (first label, prompt ids, marker positions)."""
        missing = [label for label in labels if label not in self._label_pieces]
        limit = self.max_prompt_tokens - 2
        for label, ids in zip(missing, self.pieces([missing])[0]):
            if not ids:
                raise unreadable_label(label)
            if len(ids) > limit:
                warnings.warn(
                    f"The label {label[:40]!r}... has {len(ids)} sub-tokens; only the first {limit} fit in the "
                    "prompt and are used.",
                    stacklevel=3,
                )
                ids = ids[:limit]
            self._label_pieces[label] = ids
        groups: List[Tuple[int, List[int], List[int]]] = []
        prompt: List[int] = []
        markers: List[int] = []
        first = 0
        for i, label in enumerate(labels):
            ids = [self.ent_id] + self._label_pieces[label]
            if markers and len(prompt) + len(ids) + 1 > self.max_prompt_tokens:
                groups.append((first, prompt + [self.sep_id], markers))
                prompt, markers, first = [], [], i
            markers.append(len(self.prefix) + len(prompt) + (0 if self.settings.embed_ent_token else 1))
            prompt += ids
        groups.append((first, prompt + [self.sep_id], markers))
        return groups

    def windows(
        self, text: int, words: Sequence[str], labels: Sequence[str], pieces: Optional[List[List[int]]] = None
    ) -> List[Window]:
        """All windows for one text; no word is left out, whatever the length.

        ``pieces``: the words' sub-tokens if already known (``pieces`` for many texts at once).
        """
        if not words or not labels:
            return []
        pieces = self.pieces([words])[0] if pieces is None else pieces
        counts = [len(p) for p in pieces]
        breaks = sentence_starts(words)
        out: List[Window] = []
        # bi-encoders: no prompt, every label in one pass (their vectors come from encode_labels)
        groups = [(0, [], [])] if self.settings.bi_encoder else self.label_groups(labels)
        for first, prompt, markers in groups:
            n_labels = len(labels) if self.settings.bi_encoder else len(markers)
            budget = self.max_tokens - len(self.prefix) - len(self.suffix) - len(prompt)
            ranges = plan_windows(counts, budget, self.max_words, self.overlap, self.settings.max_width, breaks)
            for start, end, own_start, own_end in ranges:
                ids = list(self.prefix) + prompt
                word_index, has_token = [], []
                for p in pieces[start:end]:
                    p = p[: max(0, budget - (len(ids) - len(self.prefix) - len(prompt)))]
                    word_index.append(len(ids) if p else 0)
                    has_token.append(bool(p))
                    ids += p
                ids += self.suffix
                out.append(
                    Window(text, start, end, own_start, own_end, first, n_labels, ids, word_index, has_token, markers)
                )
        return out

    def collate(self, windows: Sequence[Window], device: "torch.device") -> Dict[str, "torch.Tensor"]:
        """Pad a batch of windows for the network, with this tokenizer's padding id."""
        return collate(windows, self.pad_id, self.settings.max_width, device)


def sentence_starts(words: Sequence[str]) -> List[int]:
    """Indices of words that follow sentence-final punctuation: where windows prefer to cut.

    Taken from the words themselves, so windows (and results) are the same whether or
    not a pipeline has a parser or sentencizer. A false break ("U.S. officials") only
    moves a preferred cut point.
    """
    return [i + 1 for i, word in enumerate(words[:-1]) if word in SENTENCE_END]


def plan_windows(
    counts: Sequence[int], budget: int, max_words: int, overlap: int, min_margin: int = 0, breaks: Sequence[int] = ()
) -> List[Tuple[int, int, int, int]]:
    """Word ranges (start, end, own_start, own_end) covering ``counts`` (sub-tokens per word).

    Each range holds at most ``max_words`` words and ``budget`` sub-tokens (a single word
    over the budget gets a range of its own and is cut). Neighbours share up to
    ``overlap`` words (at most half a window). Spans starting in [own_start, own_end) are
    scored by that window: the owned ranges partition the text, and ownership switches
    inside the overlap, at least ``min_margin`` words from either edge where the overlap
    allows, so a span of up to ``min_margin + 1`` words that one window cuts is scored
    whole by the other. Windows prefer to end, start and switch ownership at ``breaks``
    (sentence starts), so that each sentence is scored whole inside one window.
    """
    n = len(counts)
    if n == 0:
        return []
    cuts = sorted({b for b in breaks if 0 < b < n})
    ranges: List[Tuple[int, int]] = []
    switches = [0]
    start = 0
    while True:
        end, used = start, 0
        while end < n and end - start < max_words and (end == start or used + counts[end] <= budget):
            used += counts[end]
            end += 1
        if end < n:  # end at a sentence start if that keeps three quarters of the window
            low = max(start + (3 * (end - start) + 3) // 4, ranges[-1][1] + 1 if ranges else 0)
            end = _nearest(cuts, low, end, end) or end
        ranges.append((start, end))
        if end >= n:
            break
        shared = min(overlap, (end - start) // 2)
        low, margin = end - shared, min(min_margin, shared // 2)
        switch = _nearest(cuts, low + margin, end - margin, (low + end) // 2) or (low + end) // 2
        # the next window starts at a sentence start if one leaves margin words before the switch
        nxt = max(_nearest(cuts, low, switch - margin, low) or low, start + 1)
        used = sum(counts[nxt:end])
        while nxt < end and (end + 1 - nxt > max_words or used + counts[end] > budget):
            used -= counts[nxt]  # the next window must reach past this one
            nxt += 1
        switches.append(max(switch, nxt, switches[-1] + 1))
        start = nxt
    switches.append(n)
    return [(start, end, switches[i], switches[i + 1]) for i, (start, end) in enumerate(ranges)]


def _nearest(sorted_values: Sequence[int], low: int, high: int, target: int) -> Optional[int]:
    """The value in [low, high] closest to ``target`` (the lower one on a tie), or None."""
    i, j = bisect.bisect_left(sorted_values, low), bisect.bisect_right(sorted_values, high)
    return min(sorted_values[i:j], key=lambda v: (abs(v - target), v), default=None)


def collate(
    windows: Sequence[Window], pad_id: int, max_width: int, device: "torch.device"
) -> Dict[str, "torch.Tensor"]:
    """Pad a batch of windows into the tensors ``GLiNERNetwork.forward`` takes."""
    import torch

    n_tokens = max(len(w.input_ids) for w in windows)
    n_words = max(w.end - w.start for w in windows)
    n_labels = max(w.n_labels for w in windows)
    batch = len(windows)
    input_ids = torch.full((batch, n_tokens), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((batch, n_tokens), dtype=torch.long)
    word_index = torch.zeros((batch, n_words), dtype=torch.long)
    word_has_token = torch.zeros((batch, n_words), dtype=torch.bool)
    label_index = torch.zeros((batch, n_labels), dtype=torch.long)
    label_mask = torch.zeros((batch, n_labels), dtype=torch.bool)
    word_lengths = torch.zeros((batch,), dtype=torch.long)
    for i, w in enumerate(windows):
        input_ids[i, : len(w.input_ids)] = torch.tensor(w.input_ids)
        attention_mask[i, : len(w.input_ids)] = 1
        word_index[i, : len(w.word_index)] = torch.tensor(w.word_index)
        word_has_token[i, : len(w.word_has_token)] = torch.tensor(w.word_has_token)
        label_index[i, : len(w.label_index)] = torch.tensor(w.label_index, dtype=torch.long)
        label_mask[i, : w.n_labels] = True
        word_lengths[i] = w.end - w.start
    starts = torch.arange(n_words)[None, :, None]
    widths = torch.arange(max_width)[None, None, :]
    span_mask = starts + widths < word_lengths[:, None, None]
    tensors = {
        "input_ids": input_ids,
        "attention_mask": attention_mask,
        "word_index": word_index,
        "word_has_token": word_has_token,
        "label_index": label_index,
        "label_mask": label_mask,
        "span_mask": span_mask,
    }
    out = {k: v.to(device) for k, v in tensors.items()}
    out["word_lengths"] = word_lengths  # stays on the CPU: the LSTM packing reads it there
    return out


def _special_affixes(tokenizer) -> Tuple[List[int], List[int]]:
    """The special ids the tokenizer puts before and after a sequence ([CLS] ... [SEP])."""
    plain = tokenizer(["a"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    full = tokenizer(["a"], is_split_into_words=True)["input_ids"]
    for i in range(len(full) - len(plain) + 1):
        if full[i : i + len(plain)] == plain:
            return full[:i], full[i + len(plain) :]
    raise ValueError("Cannot locate the special tokens this tokenizer adds around a sequence.")
