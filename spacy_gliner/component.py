"""The ``gliner`` pipeline component: zero-shot (and trainable) entity recognition.

Import-light on purpose: spaCy imports factory modules for every ``Language``, so the
GLiNER core (torch networks, transformers) is imported only when the component first
needs it. Its settings and their checks are ``config``'s. Methods follow a batch's life:
labels, prediction, annotation, training, scoring, initialization and serialization.
"""

import json
import warnings
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np
import srsly
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.scorer import Scorer, get_ner_prf
from spacy.tokens import Doc, Span
from spacy.training import Example, validate_examples
from spacy.util import minibatch, registry
from spacy.vocab import Vocab
from thinc.api import Model

from .architectures import (
    build_gliner_model,
    get_loaded,
    is_gliner2_model,
    is_loaded,
    load_checkpoint,
    save_checkpoint,
    set_loaded,
)
from .config import (
    CHECKPOINT_WORDS,
    DEFAULT_CONFIG,
    DOC_TOKENS,
    Classes,
    GLiNERConfig,
    LabelMap,
    Labels,
    Threshold,
    check_classes,
    check_labels,
    check_relation_threshold,
    check_threshold,
    check_threshold_labels,
    label_thresholds,
    relation_limit,
    takes_fields,
)
from .training import GoldStats, TrainingSettings, gold_spans, loss_and_gradient, make_batch

if TYPE_CHECKING:  # pragma: no cover
    from .alignment import AlignedWords
    from .model.decoding import Candidates, Entities
    from .model.gliner2.decoding import Classification, Relation
    from .model.gliner2.extract import Extractor
    from .model.relation_search import RelationRow
    from .model.search import SpanSearch
    from .model.words import Splitter

DOC_LABELS_KEY = "gliner_labels"  # doc.user_data key: labels for this doc only
DOC_THRESHOLD_KEY = "gliner_threshold"  # doc.user_data key: threshold (a number or {label: number}) for this doc only
DOC_RELATIONS_KEY = "gliner_relations"  # doc.user_data key (relex models): relation types for this doc only
DOC_RELATION_THRESHOLD_KEY = "gliner_relation_threshold"  # doc.user_data key: relation threshold for this doc only
DOC_CLASSES_KEY = "gliner_classes"  # doc.user_data key (GLiNER2 models): classification tasks for this doc only
CATS_THRESHOLD = 0.5  # classes scored as textcat_multilabel: a choice at or above it is predicted (spaCy's default)
OWNER_ATTR = "component"  # SpanGroup attr: the name of the component that wrote the group
LABEL_CACHE_SIZE = 100_000  # bi-encoders: label vectors kept (~2 kB each at hidden size 512)
# cfg["labels_format"]: how a saved cfg writes label dicts. 2: {label: description}, the
# official library's form; absent (1): earlier versions' {text the model reads: label}.
LABELS_FORMAT_KEY = "labels_format"
LABELS_FORMAT = 2


# spaCy validates a factory's config against its signature: the settings' parameters
# are taken from GLiNERConfig, so that each setting is written in one place.
@takes_fields(GLiNERConfig)
def make_gliner(
    nlp: Language,
    name: str,
    model: Union[str, Model],
    training: TrainingSettings,
    scorer: Optional[Callable],
    **settings: Any,
) -> "GLiNERComponent":
    """Create a ``gliner`` component. ``model`` may be a checkpoint id/folder or a thinc Model;
    ``settings`` are the fields of :class:`GLiNERConfig`."""
    if isinstance(model, (str, Path)):
        model = build_gliner_model(source=str(model))
    return GLiNERComponent(nlp.vocab, model, name, training=training, scorer=scorer, **settings)


Language.factory(
    "gliner",
    assigns=["doc.ents", "doc.spans"],
    default_config=DEFAULT_CONFIG,
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)(make_gliner)


def score_gliner(
    examples: Iterable[Example],
    *,
    nested: bool = GLiNERConfig.nested,
    spans_key: str = GLiNERConfig.spans_key,
    classes: Optional[Classes] = None,
    **kwargs: Any,
) -> Dict[str, Any]:
    """``ents_p/r/f`` and per type (flat), or ``spans_<key>_p/r/f`` (nested); the component
    passes its own ``nested`` and ``spans_key``. With GLiNER2 ``classes``, also spaCy's
    textcat scores (``cats_*``, ``Scorer.score_cats`` over every choice): one single-label task
    is scored as textcat scores (the best choice is the prediction); several tasks, or a
    multi-label one, as textcat_multilabel scores (each choice at or above 0.5)."""
    examples = list(examples)
    if not nested:
        scores = get_ner_prf(examples, **kwargs)
    else:
        scores = Scorer.score_spans(
            examples,
            f"spans_{spans_key}",
            getter=lambda doc, attr: doc.spans.get(spans_key, []),
            has_annotation=lambda doc: spans_key in doc.spans,
            allow_overlap=True,
            labeled=True,
        )
    if classes:
        from .model.gliner2.schema import Schema

        tasks = Schema.build(classes=classes).classes
        single = len(tasks) == 1 and not tasks[0].multi_label
        choices = [choice for task in tasks for choice in task.choices]
        scores.update(
            Scorer.score_cats(examples, "cats", labels=choices, multi_label=not single, threshold=CATS_THRESHOLD)
        )
    return scores


@registry.scorers("spacy_gliner.gliner_scorer.v1")
def make_gliner_scorer() -> Callable[..., Dict[str, Any]]:
    """The ``gliner`` component's scorer: entity scores, or span scores in nested mode."""
    return score_gliner


@dataclass
class DocPrediction:
    """Candidates of one doc in GLiNER's word units, the label each of their label indices
    writes, and the words (with the tokens holding them)."""

    candidates: "Candidates"
    labels: List[str]
    words: "AlignedWords"
    relation_labels: List[str] = field(default_factory=list)  # relex models: the label of each relation type index
    relations: Optional[List["RelationRow"]] = None  # relex models: None where no relation type was looked for


@dataclass
class Gliner2Prediction:
    """What a GLiNER2 model found in one doc: its entities on the model's words (``labels``: the
    label each label index writes), its relations (None where no relation type was looked
    for) and its classes (one per task)."""

    entities: "Entities"
    labels: List[str]
    words: "AlignedWords"
    relations: Optional[List["Relation"]]
    classes: List["Classification"]


class _Setting:
    """A component attribute that reads and replaces one field of its ``GLiNERConfig``
    (so a new value is checked, and the span search is rebuilt when it depends on it)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, component: Any, owner: Optional[type] = None) -> Any:
        return self if component is None else getattr(component.settings, self.name)

    def __set__(self, component: Any, value: Any) -> None:
        component.settings = replace(component.settings, **{self.name: value})


class GLiNERComponent(TrainablePipe):
    """Finds entities of any type named in plain language, with a GLiNER model."""

    threshold = _Setting()
    nested = _Setting()
    multi_label = _Setting()
    spans_key = _Setting()
    batch_size = _Setting()
    overwrite_ents = _Setting()
    window_overlap = _Setting()
    words = _Setting()
    propagate = _Setting()
    name_labels = _Setting()
    relations = _Setting()
    relation_threshold = _Setting()
    classes = _Setting()

    def __init__(
        self,
        vocab: Vocab,
        model: Model,
        name: str = "gliner",
        *,
        training: Optional[TrainingSettings] = None,
        scorer: Optional[Callable] = score_gliner,
        **settings: Any,
    ) -> None:
        """vocab: the pipeline's vocabulary. model: a thinc Model of ``spacy_gliner.GLiNERModel.v1``
        or ``GLiNEREncoderModel.v1``. name: the component's name in the pipeline.
        training: how ``update`` samples labels and computes the loss. scorer: what ``score``
        calls (``score_gliner`` by default). settings: the fields of :class:`GLiNERConfig`.
        """
        from .relations import register_extension

        register_extension()  # doc._.rel, where relex models write relations: readable wherever this pipe is
        self.vocab = vocab
        self.model = model
        self.name = name
        self.settings = GLiNERConfig(**settings)
        self.training = training or TrainingSettings()
        self.scorer = scorer
        self.gold_stats = GoldStats()  # gold spans seen by update(), and those it could not use
        self.cfg: Dict[str, Any] = {"trained_labels": {}, LABELS_FORMAT_KEY: LABELS_FORMAT}
        self._derived: Tuple[Any, Dict[str, Any]] = (None, {})  # (loaded checkpoint, what was derived from it)

    # -- labels ---------------------------------------------------------------
    @property
    def label_descriptions(self) -> LabelMap:
        """What is looked for when a call or doc names no labels, {label: the description the
        model reads}: the configured labels, else those collected from training data."""
        return self.settings.labels or self.cfg["trained_labels"]

    @property
    def labels(self) -> tuple:
        """The labels written on the spans when a call or doc names none (spaCy's ``labels``:
        the keys of ``label_descriptions``)."""
        return tuple(self.label_descriptions)

    def add_label(self, label: str) -> int:
        if label in self.cfg["trained_labels"]:
            return 0
        self.cfg["trained_labels"] = check_labels({**self.cfg["trained_labels"], label: label})
        return 1

    def _label_maps(self, docs: Sequence[Doc], labels: Optional[Labels], required: bool = True) -> List[LabelMap]:
        """Each doc's labels; ``required``: none is an error (GLiNER2 models may look for
        classes or relations only)."""
        default = check_labels(labels) if labels is not None else self.label_descriptions
        maps = []
        for doc in docs:
            own = doc.user_data.get(DOC_LABELS_KEY)
            mapping = check_labels(own) if own is not None else default
            if not mapping and required:
                raise ValueError(
                    f"The {self.name!r} component has no labels to look for. Give them in its config "
                    f'(nlp.add_pipe("gliner", config={{"labels": ["person", ...]}})), per call '
                    f'(component_cfg={{"{self.name}": {{"labels": [...]}}}}), per document '
                    f'(doc.user_data["{DOC_LABELS_KEY}"] = [...]), or train it.'
                )
            maps.append(mapping)
        return maps

    # -- prediction -----------------------------------------------------------
    def __call__(
        self,
        doc: Doc,
        *,
        labels: Optional[Labels] = None,
        threshold: Optional[Threshold] = None,
        relations: Optional[Labels] = None,
        relation_threshold: Optional[float] = None,
        classes: Optional[Classes] = None,
    ) -> Doc:
        self._set_annotations([doc], self._predict([doc], labels, threshold, relations, relation_threshold, classes))
        return doc

    def pipe(
        self,
        stream: Iterable[Doc],
        *,
        batch_size: int = 128,
        labels: Optional[Labels] = None,
        threshold: Optional[Threshold] = None,
        relations: Optional[Labels] = None,
        relation_threshold: Optional[float] = None,
        classes: Optional[Classes] = None,
    ) -> Iterator[Doc]:
        """Docs are encoded together: windows of many docs share each forward pass."""
        for docs in minibatch(stream, size=batch_size):
            self._set_annotations(docs, self._predict(docs, labels, threshold, relations, relation_threshold, classes))
            yield from docs

    def predict(self, docs: Iterable[Doc]) -> List[Union[DocPrediction, Gliner2Prediction]]:
        return self._predict(list(docs), None, None)

    def set_annotations(self, docs: Iterable[Doc], preds: List[Union[DocPrediction, Gliner2Prediction]]) -> None:
        self._set_annotations(list(docs), preds)

    def _predict(
        self,
        docs: List[Doc],
        labels: Optional[Labels],
        threshold: Optional[Threshold],
        relations: Optional[Labels] = None,
        relation_threshold: Optional[float] = None,
        classes: Optional[Classes] = None,
    ) -> List[Any]:
        """Candidates above the threshold of their label, in word units; with a relex model,
        the relations between them too, read in the same forward passes. A GLiNER2 model:
        ``_predict_gliner2``."""
        from .alignment import doc_words

        if is_gliner2_model(self._loaded(docs, classes)):
            return self._predict_gliner2(docs, labels, threshold, relations, relation_threshold, classes)
        maps = self._label_maps(docs, labels)
        limits = self._thresholds(docs, maps, threshold)
        splitter = self.word_splitter()
        aligned = [doc_words(doc, splitter) for doc in docs]
        search = self.search()
        word_lists, label_lists = [a.words for a in aligned], [list(m.values()) for m in maps]
        if not search.loaded.settings.relex:
            embed = self.label_vectors if search.loaded.settings.bi_encoder else None
            found = search(word_lists, label_lists, limits, self.batch_size, run=self.model.predict, embed=embed)
            return [DocPrediction(c, list(m), a) for a, c, m in zip(aligned, found, maps)]
        types = self._relation_maps(docs, relations)
        pair_limits = self._relation_limits(docs, threshold, relation_threshold)
        if (
            len(set(pair_limits)) > 1
        ):  # the search takes one pair of them: docs with their own are searched on their own
            return [p for doc in docs for p in self._predict([doc], labels, threshold, relations, relation_threshold)]
        relation, adjacency = pair_limits[0]
        found, rows = search(
            word_lists,
            label_lists,
            [list(t.values()) for t in types],
            limits,
            self.batch_size,
            relation,
            adjacency,
            run=self.model.predict,
        )
        return [
            DocPrediction(c, list(m), a, list(t), r if t else None)
            for a, c, m, t, r in zip(aligned, found, maps, types, rows)
        ]

    def _loaded(self, docs: Sequence[Doc] = (), classes: Optional[Classes] = None) -> Any:
        """The loaded checkpoint (loading it on first use); classification tasks (configured, of
        this call or of a doc) are refused unless it is a GLiNER2 model."""
        loaded = get_loaded(self.model)
        if not is_gliner2_model(loaded) and (
            self.classes or classes is not None or any(DOC_CLASSES_KEY in doc.user_data for doc in docs)
        ):
            raise ValueError(
                f"The {self.name!r} component is given classification tasks (classes), but its model is a"
                f" {loaded.settings.family} GLiNER model, which finds entities only: classes need a GLiNER2 checkpoint"
                ' (e.g. "fastino/gliner2-base-v1"). Remove the classes, or load a GLiNER2 model.'
            )
        return loaded

    def _predict_gliner2(
        self,
        docs: List[Doc],
        labels: Optional[Labels],
        threshold: Optional[Threshold],
        relations: Optional[Labels],
        relation_threshold: Optional[float],
        classes: Optional[Classes],
    ) -> List[Gliner2Prediction]:
        """Entities, relations and classes of each doc from a GLiNER2 model: all tasks of a doc in
        one forward pass per window, the windows of all docs that share a schema (and
        threshold) in the same batches. The settings are those of GLiNER models: per-label
        thresholds become gliner2's per-entity-type thresholds, ``relation_threshold`` each
        relation type's, a label's description gliner2's description of the type."""
        from .alignment import aligned_words, word_range, word_spans
        from .model.decoding import Candidates, Entities

        maps = self._label_maps(docs, labels, required=False)
        limits = self._doc_thresholds(docs, maps, threshold)
        types = self._relation_maps(docs, relations)
        pair_limits = self._relation_limits(docs, threshold, relation_threshold)
        tasks = self._class_maps(docs, classes)
        groups: Dict[Tuple[Any, float], List[int]] = {}
        for i in range(len(docs)):
            schema = self._schema(maps[i], limits[i], types[i], pair_limits[i][0], tasks[i])
            groups.setdefault((schema, relation_limit(None, limits[i])), []).append(i)  # gliner2's call threshold: "*"
        extractor = self.extractor()
        given = None if self.words == CHECKPOINT_WORDS else [word_spans(doc, self.word_splitter()) for doc in docs]
        texts = [doc.text for doc in docs]
        found: List[Any] = [None] * len(docs)
        for (schema, default), index in groups.items():
            words = None if given is None else [given[i] for i in index]
            results = extractor([texts[i] for i in index], schema, default, self.batch_size, words)
            for i, extraction in zip(index, results):
                found[i] = extraction
        out = []
        for doc, mapping, kinds, model_words, extraction in zip(
            docs, maps, types, extractor.words(texts, given), found
        ):
            words = aligned_words(doc, model_words)
            names = list(mapping)
            label_index = {label: k for k, label in enumerate(names)}
            ents = extraction.entities
            bounds = np.asarray([word_range(words, e.start, e.end) for e in ents], dtype=np.int64).reshape(-1, 2)
            candidates = Candidates(
                bounds[:, 0],
                bounds[:, 1],
                np.asarray([label_index[e.label] for e in ents], dtype=np.int64),
                np.asarray([e.score for e in ents], dtype=np.float32),
            )
            entities = Entities(
                candidates,
                np.asarray([e.start for e in ents], dtype=np.int64),
                np.asarray([e.end for e in ents], dtype=np.int64),
            )
            found_relations = extraction.relations if kinds else None
            out.append(Gliner2Prediction(entities, names, words, found_relations, extraction.classes))
        return out

    def _schema(
        self, labels: LabelMap, threshold: Threshold, relations: LabelMap, relation_limit: float, classes: Classes
    ) -> Any:
        """gliner2's schema of one doc: entity types with their descriptions (a label that is its
        own description has none) and thresholds, relation types, classification tasks."""
        from .model.gliner2.schema import Schema

        def described(name: str, description: str, limit: Optional[float]) -> Dict[str, Any]:
            return {"description": None if description == name else description, "threshold": limit}

        own = threshold if isinstance(threshold, dict) else {}
        try:
            return Schema.build(
                {label: described(label, d, own.get(label)) for label, d in labels.items()},
                classes or None,
                {name: described(name, d, relation_limit) for name, d in relations.items()},
            )
        except ValueError as err:
            if labels or relations or classes:
                raise
            raise ValueError(
                f"The {self.name!r} component has nothing to look for. Give entity labels, classes or relations in"
                f' its config (nlp.add_pipe("gliner", config={{"labels": [...], "classes": {{"task": [...]}}}})),'
                f' per call (component_cfg={{"{self.name}": {{"labels": [...]}}}}) or per document'
                f' (doc.user_data["{DOC_LABELS_KEY}"], ["{DOC_CLASSES_KEY}"]).'
            ) from err

    def _class_maps(self, docs: Sequence[Doc], classes: Optional[Classes]) -> List[Classes]:
        """Each doc's classification tasks (``doc.user_data["gliner_classes"]``, see ``_per_doc``)."""
        return self._per_doc(docs, DOC_CLASSES_KEY, check_classes, classes, self.classes)

    @staticmethod
    def _per_doc(docs: Sequence[Doc], key: str, check: Callable[[Any], Any], call: Any, configured: Any) -> List[Any]:
        """Each doc's value of a setting, checked: the doc's own (``doc.user_data[key]``), else this
        call's, else the configured one."""
        default = check(call) if call is not None else configured
        return [check(doc.user_data[key]) if doc.user_data.get(key) is not None else default for doc in docs]

    def extractor(self) -> "Extractor":
        """A GLiNER2 model's ``Extractor`` for the current window overlap (loads the checkpoint on
        first use)."""
        from .model.gliner2.extract import Extractor

        return self._windowed("extractor", Extractor)

    def _relation_maps(self, docs: Sequence[Doc], relations: Optional[Labels]) -> List[LabelMap]:
        """Each doc's relation types (``doc.user_data["gliner_relations"]``, see ``_per_doc``; none:
        entities only, as the official library)."""
        return self._per_doc(docs, DOC_RELATIONS_KEY, check_labels, relations, self.relations)

    def _relation_limits(
        self, docs: Sequence[Doc], threshold: Optional[Threshold], relation_threshold: Optional[float]
    ) -> List[Tuple[float, float]]:
        """Each doc's (relation threshold, adjacency threshold). The first: the doc's own
        (``doc.user_data["gliner_relation_threshold"]``), else this call's, else the configured
        one, else the entity threshold in force for the doc; the second is always that entity
        threshold (its ``"*"`` where it is one per label), as the official library defaults both."""
        call = check_relation_threshold(relation_threshold)
        out = []
        for doc in docs:
            own = check_relation_threshold(doc.user_data.get(DOC_RELATION_THRESHOLD_KEY))
            entity = doc.user_data.get(DOC_THRESHOLD_KEY, threshold)
            entity = self.threshold if entity is None else check_threshold(entity)
            chosen = own if own is not None else call if call is not None else self.relation_threshold
            out.append((relation_limit(chosen, entity), relation_limit(None, entity)))
        return out

    def _thresholds(
        self, docs: Sequence[Doc], maps: Sequence[LabelMap], threshold: Optional[Threshold]
    ) -> List[Union[float, List[float]]]:
        """Each doc's thresholds, one per label (or one number): see ``_doc_thresholds``."""
        return [label_thresholds(t, list(m)) for t, m in zip(self._doc_thresholds(docs, maps, threshold), maps)]

    def _doc_thresholds(
        self, docs: Sequence[Doc], maps: Sequence[LabelMap], threshold: Optional[Threshold]
    ) -> List[Threshold]:
        """Each doc's threshold: the doc's own (``doc.user_data["gliner_threshold"]``), else this
        call's, else the configured one. A dict given per doc or per call may name only labels
        that doc is looked at for; the configured one is for the configured labels, and other
        labels get its ``"*"``."""
        call = None if threshold is None else check_threshold(threshold)
        out = []
        for doc, mapping in zip(docs, maps):
            own = doc.user_data.get(DOC_THRESHOLD_KEY)
            chosen = check_threshold(own) if own is not None else call
            if chosen is not None:
                where = f'doc.user_data["{DOC_THRESHOLD_KEY}"]' if own is not None else "The threshold of this call"
                check_threshold_labels(chosen, list(mapping), where)
            out.append(self.threshold if chosen is None else chosen)
        return out

    def word_splitter(self) -> Optional["Splitter"]:
        """What splits a doc's text into GLiNER's words (``words`` setting); None: the Doc's tokens."""
        from .alignment import word_splitter

        if self.words == DOC_TOKENS:
            return None
        loaded = get_loaded(self.model)
        if self.words == CHECKPOINT_WORDS and is_gliner2_model(loaded):
            from .model.gliner2.inputs import split_words

            return split_words
        return word_splitter(loaded.settings.words_splitter_type if self.words == CHECKPOINT_WORDS else self.words)

    def search(self) -> "SpanSearch":
        """The span search for the loaded checkpoint and the current window overlap (loads the
        checkpoint on first use). A GLiNER2 model has none (its ``extractor`` decodes)."""
        from .model.relation_search import RelationSearch
        from .model.search import SpanSearch

        loaded = self._derived_from_model()[0]
        if is_gliner2_model(loaded):
            raise ValueError(
                f"The {self.name!r} component's model is a {loaded.settings.family} model, which has no GLiNER span"
                " search: gliner2's rules decode its entities (run the pipe, or the component's extractor()). The"
                " GLiNER paper's zero-shot protocol (spacy_gliner.data.evaluation) evaluates GLiNER checkpoints only;"
                " evaluate a GLiNER2 pipe with spacy evaluate on gold docs instead."
            )
        return self._windowed("search", RelationSearch if loaded.settings.relex else SpanSearch)

    def _windowed(self, key: str, build: Callable[[Any, int], Any]) -> Any:
        """``build(loaded checkpoint, window overlap)`` (the span search, or a GLiNER2 model's
        extractor), kept under ``key`` until the model or the window overlap changes."""
        loaded, derived = self._derived_from_model()
        kept = derived.get(key)
        if kept is None or kept.overlap != self.window_overlap:
            kept = derived[key] = build(loaded, self.window_overlap)
        return kept

    def _derived_from_model(self) -> Tuple[Any, Dict[str, Any]]:
        """The loaded checkpoint and what this component keeps derived from it (span search or
        GLiNER2 extractor, label vectors): a new or reloaded model starts afresh."""
        loaded = get_loaded(self.model)
        if self._derived[0] is not loaded:
            self._derived = (loaded, {})
        return loaded, self._derived[1]

    def label_vectors(self, labels: Sequence[str]) -> Any:
        """Bi-encoders: the vectors [C, H] of ``labels``. Each label is encoded once per loaded
        model and kept, so labels given per call or per doc reuse earlier work and thousands
        of labels cost one encoder pass over the text; a new or reloaded model starts afresh."""
        import torch

        from .architectures import encode_labels

        loaded, derived = self._derived_from_model()
        cache = derived.setdefault("label_vectors", {})
        if len(cache) > LABEL_CACHE_SIZE:
            cache = derived["label_vectors"] = {}
        missing = [label for label in dict.fromkeys(labels) if label not in cache]
        if missing:
            cache.update(zip(missing, encode_labels(self.model, missing)))
        return torch.stack([cache[label] for label in labels]).to(loaded.device)

    def _set_annotations(self, docs: List[Doc], preds: List[Any]) -> None:
        """Decode on GLiNER's words as the official library does (GLiNER2 models: decoded by the
        ``Extractor``), then place the entities (see ``alignment``): all in the span group, those
        that fit in ``doc.ents``; then relations and classes."""
        from .alignment import PROPAGATED, entity_group, fitting_entities
        from .model.decoding import decode_entities
        from .model.propagation import OFF, propagate

        self._check_span_groups(docs)
        for doc, pred in zip(docs, preds):
            words = pred.words
            if isinstance(pred, Gliner2Prediction):
                found = pred.entities
            else:
                found = decode_entities(
                    pred.candidates,
                    words.char_starts,
                    words.char_ends,
                    flat=not self.nested,
                    multi_label=self.multi_label,
                )
            decoded = found
            attrs: Dict[str, Any] = {OWNER_ATTR: self.name}
            if self.propagate != OFF:  # the text each entity was taken from (None: found by the model)
                found, attrs[PROPAGATED] = propagate(
                    doc.text, found, pred.labels, words.char_starts, words.char_ends, self.propagate, self.name_labels
                )
            group = entity_group(doc, self.spans_key, words, found, pred.labels, attrs)
            doc.spans[self.spans_key] = group
            if not self.nested:
                self._write_ents(doc, self._merge_ents(doc, fitting_entities(group, found)))
            if isinstance(pred, Gliner2Prediction):
                self._write_gliner2(doc, pred)
            elif pred.relations is not None:
                self._write_relations(doc, pred, decoded)

    @staticmethod
    def _write_gliner2(doc: Doc, pred: Gliner2Prediction) -> None:
        """``doc.cats[choice]``: every choice's score, of every task; ``doc._.rel``: the
        relations, each end labelled as the best entity found on its characters (None where
        none was: gliner2's relation arguments are spans of any type), indexed into ``doc.ents``."""
        from .alignment import word_range
        from .relations import FoundRelation, RelationEnd, set_relations

        for task in pred.classes:
            doc.cats.update({choice: float(score) for choice, score in task.scores.items()})
        if pred.relations is None:
            return
        found = pred.entities
        best: Dict[Tuple[int, int], str] = {}
        for k in np.argsort(-found.words.scores, kind="stable").tolist():
            best.setdefault((int(found.starts[k]), int(found.ends[k])), pred.labels[int(found.words.labels[k])])
        words = pred.words

        def end(mention: Any) -> RelationEnd:
            first, last = word_range(words, mention.start, mention.end)
            label = best.get((mention.start, mention.end))
            return RelationEnd(
                mention.start, mention.end, label, int(words.first_token[first]), int(words.last_token[last]) + 1
            )

        set_relations(doc, [FoundRelation(end(r.head), end(r.tail), r.label, r.score) for r in pred.relations])

    @staticmethod
    def _write_relations(doc: Doc, pred: DocPrediction, decoded: "Entities") -> None:
        """``doc._.rel``: the relations whose ends are both decoded entities (those of the
        model, before propagation), indexed into ``doc.ents`` as it is now (``relations``)."""
        from .model.relation_search import entity_relations
        from .relations import FoundRelation, RelationEnd, set_relations

        words = pred.words
        first = words.first_token[decoded.words.starts].tolist()
        last = words.last_token[decoded.words.ends].tolist()
        starts, ends, labels = decoded.starts.tolist(), decoded.ends.tolist(), decoded.words.labels.tolist()
        entity = [
            RelationEnd(starts[i], ends[i], pred.labels[labels[i]], first[i], last[i] + 1) for i in range(len(starts))
        ]
        found = [
            FoundRelation(entity[h], entity[t], pred.relation_labels[kind], score)
            for h, t, kind, score in entity_relations(decoded, pred.relations)
        ]
        set_relations(doc, found)

    def _check_span_groups(self, docs: List[Doc]) -> None:
        """A span group this component did not write is never replaced (nothing is lost):
        another component's (spancat also uses "sc"), or the user's own."""
        for doc in docs:
            group = doc.spans[self.spans_key] if self.spans_key in doc.spans else None
            if group is not None and len(group) and group.attrs.get(OWNER_ATTR) != self.name:
                raise ValueError(
                    f"doc.spans[{self.spans_key!r}] already holds {len(group)} spans that the {self.name!r} component "
                    "did not write (another component's, e.g. spancat's, or your own); they are not replaced. "
                    f'Give this component its own spans_key (config "spans_key"), or remove the group first '
                    f"(del doc.spans[{self.spans_key!r}])."
                )

    @staticmethod
    def _write_ents(doc: Doc, ents: List[Span]) -> None:
        """Set ``ents``; tokens outside them keep their annotation (missing stays missing),
        except those of an existing entity that lost a clash, which become "O"."""
        covered = np.zeros(len(doc), dtype=bool)
        for span in ents:
            covered[span.start : span.end] = True
        kept = {(e.start, e.end, e.label) for e in ents}
        outside = []
        for old in doc.ents:
            if (old.start, old.end, old.label) in kept:
                continue
            i = old.start
            while i < old.end:
                if covered[i]:
                    i += 1
                    continue
                j = i
                while j < old.end and not covered[j]:
                    j += 1
                outside.append(Span(doc, i, j))
                i = j
        doc.set_ents(ents, outside=outside, default="unmodified")

    def _merge_ents(self, doc: Doc, new: List[Span]) -> List[Span]:
        """New entities (which share no token) and the doc's existing ones, by the
        ``overwrite_ents`` policy: non-clashing entities of both kinds are always kept; on a
        clash, the existing entity wins unless ``overwrite_ents`` is true."""
        old = list(doc.ents)
        first, second = (new, old) if self.overwrite_ents else (old, new)
        taken = np.zeros(len(doc) + 1, dtype=bool)
        for span in first:
            taken[span.start : span.end] = True
        kept = list(first) + [s for s in second if not taken[s.start : s.end].any()]
        return sorted(kept, key=lambda s: s.start)

    # -- training -------------------------------------------------------------
    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Callable] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """One training step on a batch (see ``spacy_gliner.training``).

        ``drop`` is ignored: dropout is the network's own (``dropout`` of its settings).
        """
        loaded = get_loaded(self.model)
        if is_gliner2_model(loaded):
            raise ValueError(
                f"Training a GLiNER2 model ({loaded.settings.family}) is not supported: spacy-gliner runs GLiNER2"
                " checkpoints as gliner2 does (entities, classes, relations) but trains the uni-encoder GLiNER span"
                " models ('markerV0', 'marker'). Fine-tune with gliner2 itself, then load the checkpoint here."
            )
        settings = loaded.settings
        if settings.relex:
            raise ValueError(
                f"Training a relation-extraction GLiNER model ({settings.family}) is not supported yet: spacy-gliner"
                " trains the uni-encoder span models ('markerV0', 'marker'). Train from such a checkpoint, or from an"
                " encoder (spacy_gliner.GLiNEREncoderModel.v1); this relex checkpoint predicts entities and relations"
                " as the official library does."
            )
        if settings.token_level or settings.bi_encoder:
            raise NotImplementedError(
                f"Training a {settings.family} GLiNER model is not supported yet: spacy-gliner trains the "
                "uni-encoder span models ('markerV0', 'marker'). This checkpoint predicts as the official library does."
            )
        losses = {} if losses is None else losses
        losses.setdefault(self.name, 0.0)
        examples = list(examples)
        validate_examples(examples, "GLiNERComponent.update")
        batch = make_batch(
            examples,
            self.search().builder,
            self.training,
            nested=self.nested,
            spans_key=self.spans_key,
            label_texts=self.label_descriptions,
            stats=self.gold_stats,
            device=get_loaded(self.model).device,
            splitter=self.word_splitter(),
        )
        if batch is None:
            return losses
        logits, backprop = self.model.begin_update(batch.inputs)
        loss, d_logits = self.get_loss(examples, (batch, logits))
        backprop(d_logits)
        if sgd not in (None, False):
            self.finish_update(sgd)
        losses[self.name] += loss
        return losses

    def get_loss(self, examples: Iterable[Example], scores: Any) -> Tuple[float, Any]:
        """Loss and d_logits; ``scores`` is (TrainingBatch, logits): the batch holds the targets
        built from ``examples`` with the label lists the model was prompted with."""
        batch, logits = scores
        return loss_and_gradient(logits, batch, self.training)

    # -- scoring --------------------------------------------------------------
    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """The configured scorer, told whether the component is nested and its spans key."""
        if self.scorer is None:
            return {}
        extra = {"classes": self.classes} if self.classes else {}
        return self.scorer(list(examples), nested=self.nested, spans_key=self.spans_key, **extra, **kwargs)

    # -- initialization and serialization -------------------------------------
    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
        labels: Optional[Labels] = None,
    ) -> None:
        """Load the checkpoint (hub access happens here) and collect labels from the data.

        With no configured labels, the collected ones are what the trained pipeline looks
        for by default (dev scoring included): more than ``max_types`` of them (a zero-shot
        corpus such as Pile-NER) is warned about, naming the setting that picks the labels."""
        self._loaded()
        if labels is not None:
            self.cfg["trained_labels"] = check_labels(labels)
            return
        for example in get_examples():
            for span in gold_spans(example.reference, self.nested, self.spans_key):
                self.add_label(span.label_)
        found = len(self.cfg["trained_labels"])
        if not self.settings.labels and found > self.training.max_types:
            warnings.warn(
                f"The {self.name!r} component found {found} labels in the training data and has no labels configured,"
                f" so the trained pipeline will look for all {found} in every text by default (dev scoring during"
                " training included), which is slow. If it is meant for other labels (a zero-shot corpus such as"
                f" Pile-NER), set the labels it predicts by default: [components.{self.name}] labels = [...] in the"
                f" config, or --components.{self.name}.labels '[\"person\", ...]' (or a {{label: description}} dict)"
                " with spacy train.",
                UserWarning,
                stacklevel=2,
            )

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """``cfg`` (JSON: trained labels, the component's settings and the labels format) and
        ``model`` (an official checkpoint folder, or a gliner2 one); names in ``exclude`` are left out."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        if "cfg" not in exclude:
            settings = {f.name: getattr(self.settings, f.name) for f in fields(GLiNERConfig)}
            # the standard json module: srsly's reads 0.3 back as 0.30000000000000004 and writes 10 digits
            (path / "cfg").write_text(
                json.dumps({**self.cfg, "settings": settings}, indent=2, ensure_ascii=False), encoding="utf8"
            )
        if "model" not in exclude:
            save_checkpoint(get_loaded(self.model), path / "model")

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "GLiNERComponent":
        """Restore the trained labels, the settings (labels, threshold, ...) and the weights
        the component had when saved. Everything is read and checked first, then swapped in:
        a failure leaves the component as it was. A ``cfg`` of older versions holds only
        ``trained_labels``; the settings are then those of the config. One without
        ``labels_format`` writes label dicts the earlier way round, and is converted (see
        ``_read_cfg``)."""
        from .model import files

        path = Path(path)
        cfg, settings = None, None
        if "cfg" not in exclude and (path / "cfg").exists():
            cfg, settings = self._read_cfg(files.read_json(path / "cfg"))
        loaded = load_checkpoint(str(path / "model")) if "model" not in exclude else None
        if cfg is not None:
            self.cfg.update(cfg)
        if settings is not None:
            self.settings = settings
        if loaded is not None:
            set_loaded(self.model, loaded)
        return self

    def _read_cfg(self, data: Any) -> Tuple[Dict[str, Any], Optional[GLiNERConfig]]:
        """The checked contents of a saved ``cfg``: (cfg, settings or None). Label dicts of a
        cfg without ``labels_format`` (earlier versions) are {text the model reads: label}:
        they are turned round, not read backwards."""
        if not isinstance(data, dict):
            raise ValueError(
                f"The saved cfg of the {self.name!r} component is not a JSON object; it was not written by to_disk."
            )
        cfg = dict(data)
        stored = cfg.pop("settings", None)
        if stored is not None and not isinstance(stored, dict):
            raise ValueError(f"The saved settings of the {self.name!r} component are not a JSON object.")
        stored = None if stored is None else dict(stored)
        version = cfg.get(LABELS_FORMAT_KEY, 1)
        if isinstance(version, bool) or version not in (1, LABELS_FORMAT):
            raise ValueError(
                f"The saved cfg of the {self.name!r} component has {LABELS_FORMAT_KEY} {version!r}; this version of"
                f" spacy-gliner reads 1 (none given) and {LABELS_FORMAT}. It was written by another version: upgrade"
                " spacy-gliner."
            )
        if version == 1:
            for where, holder, key in (
                ("trained_labels", cfg, "trained_labels"),
                ("settings.labels", stored or {}, "labels"),
            ):
                if isinstance(holder.get(key), dict):
                    holder[key] = self._turned_round(holder[key], where)
        cfg[LABELS_FORMAT_KEY] = LABELS_FORMAT
        cfg["trained_labels"] = check_labels(cfg.get("trained_labels", {}))
        if stored is None:
            return cfg, None
        known = {f.name for f in fields(GLiNERConfig)}
        return cfg, replace(self.settings, **{k: v for k, v in stored.items() if k in known})

    def _turned_round(self, old: Dict[str, str], where: str) -> LabelMap:
        """An earlier version's {text the model reads: label} as {label: description}; a label
        read from several texts has no such form and is refused."""
        check_labels([*old, *old.values()])  # strings with a visible character, as any label
        texts: Dict[str, List[str]] = {}
        for text, label in old.items():
            texts.setdefault(label, []).append(text)
        several = {label: found for label, found in texts.items() if len(found) > 1}
        if several:
            label, found = next(iter(several.items()))
            raise ValueError(
                f"The saved cfg of the {self.name!r} component was written by an earlier spacy-gliner, whose label"
                " dicts "
                f"were {{text the model reads: label}}; its {where} read the label {label!r} from several texts "
                f"({', '.join(map(repr, found))}), which the {{label: description}} form of this version cannot hold. "
                f"Edit the component's cfg file in the saved pipeline: give {where} as {{label: description}} with one "
                f'description per label, and add "{LABELS_FORMAT_KEY}": {LABELS_FORMAT}.'
            )
        return {label: found[0] for label, found in texts.items()}

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            self.to_disk(tmp, exclude=exclude)
            files = {p.relative_to(tmp).as_posix(): p.read_bytes() for p in sorted(Path(tmp).rglob("*")) if p.is_file()}
        return srsly.msgpack_dumps(files)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "GLiNERComponent":
        """What ``to_bytes`` wrote: the bytes are untrusted, so only the file names it writes
        (``cfg``, ``model/<file>``, a bi-encoder's ``model/labels_tokenizer/<file>``) are
        accepted, and nothing is written outside a temporary folder."""
        import tempfile

        files = _component_files(bytes_data)
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in files.items():
                target = Path(tmp, *name.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            self.from_disk(tmp, exclude=exclude)
        return self

    @property
    def is_loaded(self) -> bool:
        return is_loaded(self.model)


def _component_files(bytes_data: Any) -> Dict[str, bytes]:
    """{relative file name: content} of ``to_bytes`` data, refusing anything it never writes."""
    problem = "they are not a msgpack map of file names to bytes"
    try:
        files = srsly.msgpack_loads(bytes_data) if isinstance(bytes_data, (bytes, bytearray, memoryview)) else None
    except Exception as err:  # msgpack raises several error types for damaged data
        files, problem = None, f"msgpack cannot read them: {err}"
    if not isinstance(files, dict) or not all(isinstance(k, str) and isinstance(v, bytes) for k, v in files.items()):
        raise ValueError(
            f"These are not the bytes of a gliner component ({problem}). Pass what GLiNERComponent.to_bytes() "
            "or nlp.to_bytes() wrote, unchanged (not truncated, not re-encoded)."
        )
    from .model.gliner2.settings import ENCODER_DIR
    from .model.tokenizers import LABELS_TOKENIZER_DIR

    for name in files:
        parts = name.split("/")
        plain = all(part not in ("", ".", "..") and "\\" not in part and "\x00" not in part for part in parts)
        folder = parts[:-1]
        if not plain or not (
            parts == ["cfg"] or folder in (["model"], ["model", LABELS_TOKENIZER_DIR], ["model", ENCODER_DIR])
        ):
            raise ValueError(
                f"The gliner component's bytes hold a file name it never writes: {name!r}. Only 'cfg', "
                f"'model/<file>', 'model/{LABELS_TOKENIZER_DIR}/<file>' and 'model/{ENCODER_DIR}/<file>' (GLiNER2)"
                " are accepted; these bytes were not written by to_bytes, or were altered."
            )
    return files
