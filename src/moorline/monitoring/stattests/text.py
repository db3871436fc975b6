"""Text content drift by domain classifier: ``perc_text_content_drift`` and
``abs_text_content_drift``.

Both train the classifier Evidently trains (scikit-learn: TF-IDF with
sublinear tf, ``max_df=0.5``, English stop words; SGD with modified Huber
loss, L1 penalty, ``alpha=1e-4``, 50 iterations, ``random_state=42``) to tell
reference texts (label 0) from current texts (label 1), on a shuffled 50/50
split with ``random_state=42``, and score it by ROC AUC on the held-out half.

- ``abs_text_content_drift``: drift when ``AUC > threshold`` (default 0.55).
- ``perc_text_content_drift``: drift when ``AUC`` exceeds the ``threshold``
  quantile (default 0.95) of the AUCs of 1,000 random classifiers on the
  same held-out labels; classifier ``i`` scores with ``np.random.rand`` after
  ``np.random.seed(seeds[i])``, ``seeds`` drawn with ``randint(0, 10000)``
  after ``np.random.seed(42)``. That quantile depends only on the two sample
  sizes, so it is computed once per size pair (vectorised, with ranks) and
  cached; private ``RandomState`` objects leave NumPy's global generator alone.

The score is the AUC in both cases.
"""

from __future__ import annotations

import warnings
from functools import lru_cache
from typing import Any

import numpy as np

from moorline.errors import InvalidArgument
from moorline.monitoring.base import (
    ColumnKind,
    ReferenceColumn,
    ScoreKind,
    StatScore,
    StatTest,
)
from moorline.monitoring.stattests._common import make_score

RANDOM_CLASSIFIERS = 1000


def _split(n: int, m: int, texts: list[str]) -> tuple[list[str], list[str], Any, Any]:
    from sklearn.model_selection import train_test_split

    target = np.concatenate((np.zeros(n, dtype=np.int64), np.ones(m, dtype=np.int64)))
    x_train, x_test, y_train, y_test = train_test_split(
        np.asarray(texts, dtype=object),
        target,
        test_size=0.5,
        random_state=42,
        shuffle=True,
    )
    return list(x_train), list(x_test), y_train, y_test


def domain_classifier_auc(reference_texts: list[str], current_texts: list[str]) -> float:
    """ROC AUC of Evidently's reference-vs-current text classifier."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.pipeline import Pipeline

    n, m = len(reference_texts), len(current_texts)
    x_train, x_test, y_train, y_test = _split(n, m, reference_texts + current_texts)
    pipeline = Pipeline(
        [
            ("vectorization", TfidfVectorizer(sublinear_tf=True, max_df=0.5, stop_words="english")),
            (
                "classification",
                SGDClassifier(
                    alpha=0.0001,
                    max_iter=50,
                    penalty="l1",
                    loss="modified_huber",
                    random_state=42,
                ),
            ),
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipeline.fit(x_train, y_train)
    proba = pipeline.predict_proba(x_test)[:, 1]
    return float(roc_auc_score(y_test, proba))


@lru_cache(maxsize=32)
def random_auc_quantile(n: int, m: int, q: float) -> float:
    """The ``q``-th percentile (0-100) of 1,000 random classifiers' AUCs on the
    held-out labels of an n-vs-m split (Evidently's
    ``roc_auc_random_classifier_percentile``)."""
    from scipy.stats import rankdata

    texts = [""] * (n + m)
    y_test = np.asarray(_split(n, m, texts)[3])
    positives = y_test == 1
    n_pos = int(positives.sum())
    n_neg = y_test.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidArgument(
            "text content drift: the held-out half holds only one of the two samples "
            f"({n} reference, {m} current texts); ROC AUC is undefined"
        )
    seeds = np.random.RandomState(42).randint(0, RANDOM_CLASSIFIERS * 10, size=RANDOM_CLASSIFIERS)
    aucs = np.empty(RANDOM_CLASSIFIERS)
    chunk = max(1, (1 << 21) // y_test.size)
    for start in range(0, RANDOM_CLASSIFIERS, chunk):
        block_seeds = seeds[start : start + chunk]
        scores = np.empty((block_seeds.size, y_test.size))
        for row, seed in enumerate(block_seeds):
            scores[row] = np.random.RandomState(seed).rand(y_test.size)
        ranks = rankdata(scores, axis=1)
        rank_sum = ranks[:, positives].sum(axis=1)
        aucs[start : start + block_seeds.size] = (rank_sum - n_pos * (n_pos + 1) / 2) / (
            n_pos * n_neg
        )
    return float(np.percentile(aucs, q))


def _texts(test: StatTest, reference: ReferenceColumn, current: Any) -> tuple[list[str], list[str]]:
    if reference.kind is not ColumnKind.TEXT:
        raise InvalidArgument(
            f"stat test {test.name!r} needs a text column, but column {reference.name!r} "
            f"is {reference.kind.value!r}"
        )
    ref = [str(t) for t in reference.texts]
    cur = [str(t) for t in np.asarray(current, dtype=object).ravel().tolist()]
    if not ref or not cur:
        raise InvalidArgument(
            f"column {reference.name!r} needs texts on both sides for {test.name!r} "
            f"(got {len(ref)} reference and {len(cur)} current)"
        )
    return ref, cur


def _auc(test: StatTest, reference: ReferenceColumn, ref: list[str], cur: list[str]) -> float:
    try:
        return domain_classifier_auc(ref, cur)
    except ValueError as exc:
        raise InvalidArgument(
            f"stat test {test.name!r} cannot train its classifier on column "
            f"{reference.name!r}: {exc}"
        ) from exc


class PercentileTextContentDrift(StatTest):
    """``perc_text_content_drift``: drift when the domain classifier's AUC exceeds
    the ``threshold`` quantile of random classifiers' AUCs."""

    name = "perc_text_content_drift"
    display_name = "Percentile text content drift"
    kinds = frozenset({ColumnKind.TEXT})
    default_threshold = 0.95
    score_kind = ScoreKind.DISTANCE
    rule = "auc>pctl"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        ref, cur = _texts(self, reference, current)
        auc = _auc(self, reference, ref, cur)
        p_value = 1 - threshold
        percentile = random_auc_quantile(len(ref), len(cur), 100 * (1 - p_value))
        return StatScore(
            stattest=self.name,
            score=auc,
            threshold=float(threshold),
            drift_detected=auc > percentile,
            score_kind=self.score_kind,
            details={"random_auc_percentile": percentile},
        )


class AbsoluteTextContentDrift(StatTest):
    """``abs_text_content_drift``: drift when the domain classifier's AUC exceeds
    ``threshold``."""

    name = "abs_text_content_drift"
    display_name = "Absolute text content drift"
    kinds = frozenset({ColumnKind.TEXT})
    default_threshold = 0.55
    score_kind = ScoreKind.DISTANCE
    rule = "auc>t"

    def compute(self, reference: ReferenceColumn, current: Any, threshold: float) -> StatScore:
        ref, cur = _texts(self, reference, current)
        return make_score(self, _auc(self, reference, ref, cur), threshold)
