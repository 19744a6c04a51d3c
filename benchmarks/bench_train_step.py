"""Time one training step: the spaCy component vs the official library, on identical batches.

Same checkpoint (``ref_minilm``), same batches of CoNLL-2003 training sentences, same
type lists (our sampled lists are given to the official collator as ``entity_types``),
same loss (summed binary cross-entropy over valid span/type pairs). Before timing, both
losses are computed with dropout off and must agree: the batches really are the same.

* forward+backward: ours = ``make_batch`` + forward + loss + backward through thinc's
  PyTorchShim; official = its collator + ``model(**batch)`` (loss included) + backward.
* full step: plus the optimizer: ours = thinc's Adam (decoupled weight decay, encoder at
  ``encoder_lr_scale``) via ``component.update``; official = torch AdamW with two parameter
  groups and gradient clipping, as the official trainer configures it.

    python benchmarks/bench_train_step.py --steps 20 --batch-size 8 --threads 1
"""

import argparse
import json
import random
import statistics
import time
from pathlib import Path
from typing import Any, Dict, List

import spacy
import torch
from _paths import DATA, REF  # noqa: E402
from spacy.training import Example

TRAIN = DATA / "benchmarks" / "conll2003" / "train.json"


def conll_examples(nlp: spacy.Language, n: int) -> List[Example]:
    out = []
    for record in json.loads(TRAIN.read_text()):
        if len(out) == n:
            break
        ref = nlp.make_doc(record["sentence"])
        spans = [ref.char_span(e["pos"][0], e["pos"][1], label=e["type"]) for e in record["entities"]]
        # a few sentences have unaligned or overlapping gold: left out (both systems get the same batches)
        if not all(spans):
            continue
        ordered = sorted(spans, key=lambda s: s.start)
        if any(a.end > b.start for a, b in zip(ordered, ordered[1:])):
            continue
        ref.ents = spans
        out.append(Example(nlp.make_doc(record["sentence"]), ref))
    return out


def official_batch(
    gliner_model: Any, examples: List[Example], types: List[List[str]], nested: bool = False
) -> Dict[str, Any]:
    """The official collator's batch for the same words, gold word spans and type lists."""
    from spacy_gliner.model.words import split_words
    from spacy_gliner.training import GoldStats, gold_spans, place_spans

    items = []
    for eg in examples:
        words = split_words(eg.reference.text)
        spans = [(s.start_char, s.end_char, s.label_) for s in gold_spans(eg.reference, nested, "sc")]
        placed = place_spans(eg.reference, words, spans, gliner_model.config.max_width, GoldStats())
        items.append({"tokenized_text": [w for w, _, _ in words], "ner": [[a, b, label] for a, b, label in placed]})
    collator = gliner_model._create_data_collator()
    return collator(items, entity_types=types)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from gliner import GLiNER
    from thinc.api import Adam

    from spacy_gliner.architectures import get_loaded
    from spacy_gliner.training import TrainingSettings, make_batch, span_loss

    nlp = spacy.blank("en")
    component = nlp.add_pipe(
        "gliner", config={"model": {"@architectures": "spacy_gliner.GLiNERModel.v1", "source": str(REF)}}
    )
    examples = conll_examples(nlp, args.batch_size * (args.steps + args.warmup + 1))
    nlp.initialize(lambda: examples)
    loaded = get_loaded(component.model)
    official = GLiNER.from_pretrained(str(REF), local_files_only=True)
    batches = [
        examples[i : i + args.batch_size] for i in range(0, len(examples) - args.batch_size + 1, args.batch_size)
    ]
    settings = TrainingSettings()
    device = torch.device("cpu")

    def ours_batch(batch: List[Example], seed: int) -> Any:
        return make_batch(
            batch, component.search().builder, settings, nested=False, spans_key="sc", label_texts={},
            stats=component.gold_stats, device=device, rng=random.Random(seed),
        )  # fmt: skip

    # the same batch, the same loss (dropout off)
    check = ours_batch(batches[0], 0)
    loaded.network.eval()
    with torch.no_grad():
        ours_loss = float(span_loss(loaded.network(**check.inputs), check.targets, check.mask, settings))
    official.model.eval()
    with torch.no_grad():
        theirs_loss = float(official.model(**official_batch(official, batches[0], check.types), reduction="sum").loss)
    assert abs(ours_loss - theirs_loss) <= 1e-3 * max(1.0, abs(theirs_loss)), (ours_loss, theirs_loss)

    sgd = Adam(5e-5, L2=0.01, L2_is_weight_decay=True, grad_clip=1.0, use_averages=False)
    head = [p for n, p in official.model.named_parameters() if not n.startswith("token_rep_layer")]
    encoder = [p for n, p in official.model.named_parameters() if n.startswith("token_rep_layer")]
    adamw = torch.optim.AdamW([{"params": encoder, "lr": 1e-5}, {"params": head, "lr": 5e-5}], weight_decay=0.01)

    def ours_fb(batch: List[Example], seed: int) -> None:
        tb = ours_batch(batch, seed)
        logits, backprop = component.model.begin_update(tb.inputs)
        backprop(component.get_loss(batch, (tb, logits))[1])
        loaded.network.zero_grad()

    def ours_step(batch: List[Example], seed: int) -> None:
        random.seed(seed)
        component.update(batch, sgd=sgd)

    def official_fb(batch: List[Example], seed: int) -> None:
        types = ours_batch(batch, seed).types
        official.model.train()
        official.model(**official_batch(official, batch, types), reduction="sum").loss.backward()
        official.model.zero_grad()

    def official_step(batch: List[Example], seed: int) -> None:
        types = ours_batch(batch, seed).types
        official.model.train()
        official.model(**official_batch(official, batch, types), reduction="sum").loss.backward()
        torch.nn.utils.clip_grad_norm_(official.model.parameters(), 1.0)
        adamw.step()
        adamw.zero_grad()

    # interleaved, batch by batch, so that a change in machine load hits every variant alike
    runs = {
        "ours_forward_backward": ours_fb,
        "official_forward_backward": official_fb,
        "ours_step": ours_step,
        "official_step": official_step,
    }
    times: Dict[str, List[float]] = {name: [] for name in runs}
    for i, batch in enumerate(batches[: args.warmup + args.steps]):
        for name, fn in runs.items():
            start = time.perf_counter()
            fn(batch, i)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - start)
    results = {name: statistics.median(t) for name, t in times.items()}
    for name, value in results.items():
        print(f"{name}: {value * 1000:.0f} ms/step (median of {args.steps})", flush=True)
    report = {
        "batch_size": args.batch_size,
        "threads": args.threads,
        "loss_check": {"ours": ours_loss, "official": theirs_loss},
        "ms_per_step": {k: round(v * 1000, 1) for k, v in results.items()},
        "ratio_forward_backward": round(results["ours_forward_backward"] / results["official_forward_backward"], 3),
        "ratio_step": round(results["ours_step"] / results["official_step"], 3),
    }
    print(json.dumps(report, indent=2))
    if args.output:
        args.output.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
