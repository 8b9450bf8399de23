"""Named pipelines: a small registry the command line (and users) build from.

Later backends (pretrained embeddings, CNNs) add entries with
:func:`register_pipeline`; the command line lists whatever is registered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .sample_rate import estimator_sr

__all__ = [
    "register_pipeline",
    "make_pipeline",
    "available_pipelines",
    "pipeline_sr",
    "PipelineSpec",
]


@dataclass(frozen=True)
class PipelineSpec:
    """A registered pipeline: a factory and a one-line description.

    Examples
    --------
    >>> from embedclf.pipelines import PipelineSpec
    >>> PipelineSpec("x", dict, "an example").description
    'an example'
    """

    name: str
    factory: Callable
    description: str


_REGISTRY: dict = {}


def register_pipeline(name, factory, description):
    """Register ``factory() -> estimator`` under ``name``.

    Parameters
    ----------
    name : str
    factory : callable
        Called with no arguments; returns an unfitted estimator over clips.
    description : str

    Examples
    --------
    >>> from sklearn.pipeline import Pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> from embedclf import LogMel, WindowAggregator
    >>> from embedclf.pipelines import register_pipeline, make_pipeline
    >>> register_pipeline("my-logmel", lambda: Pipeline([("mel", LogMel()),
    ...     ("agg", WindowAggregator()), ("clf", LogisticRegression())]), "mine")
    >>> make_pipeline("my-logmel", mel__n_mels=40).get_params()["mel__n_mels"]
    40
    """
    _REGISTRY[name] = PipelineSpec(name, factory, description)


def available_pipelines():
    """Registered pipelines by name, with descriptions.

    Returns
    -------
    dict of str to str

    Examples
    --------
    >>> from embedclf.pipelines import available_pipelines
    >>> "logmel-linear" in available_pipelines()
    True
    """
    return {name: spec.description for name, spec in sorted(_REGISTRY.items())}


def make_pipeline(name, **params):
    """Build a registered pipeline, then ``set_params(**params)``.

    Parameters
    ----------
    name : str
    **params
        Nested parameters, e.g. ``mel__n_mels=40, clf__C=0.1``.

    Returns
    -------
    estimator

    Examples
    --------
    >>> from embedclf.pipelines import make_pipeline
    >>> make_pipeline("logmel-linear", clf__C=0.5).get_params()["clf__C"]
    0.5
    """
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown pipeline {name!r}; available: {', '.join(available_pipelines())}"
        )
    est = _REGISTRY[name].factory()
    return est.set_params(**params) if params else est


#: The sample rate a fitted or unfitted pipeline expects its clips at (its ``sr``, or its first
#: step's): :func:`embedclf.sample_rate.estimator_sr` under the name this module always had.
pipeline_sr = estimator_sr


def _logmel_features():
    from .features.logmel import LogMel
    from .features.windows import WindowAggregator

    return [
        ("mel", LogMel(sr=22050, n_fft=1024, hop_length=512, n_mels=64, n_jobs=-1)),
        # mean/std/max + frame differences: 84.5% on ESC-10 vs 81.0% for mean/std
        # (benchmarks/accuracy.py)
        ("agg", WindowAggregator(stats=("mean", "std", "max"), diffs=True)),
    ]


def _mfcc_features():
    from .features.logmel import MFCC
    from .features.windows import WindowAggregator

    return [
        ("mfcc", MFCC(sr=22050, n_mfcc=20, n_mels=64, deltas=1, n_jobs=-1)),
        ("agg", WindowAggregator(stats=("mean", "std", "min", "max"))),
    ]


def _birdnet_features():
    from .features.birdnet import BirdNETEmbedding
    from .features.windows import WindowAggregator

    return [("emb", BirdNETEmbedding()), ("agg", WindowAggregator(stats=("mean", "max")))]


def _birdnet_speed_features():
    from .features.birdnet import BirdNETEmbedding
    from .features.views import SpeedViews
    from .features.windows import WindowAggregator

    # speeds 0.9/1.0/1.1 (speed perturbation): chosen on ESC-10 folds 1-4 and the
    # UrbanSound8K partial fold (benchmarks/speed_views.py)
    return [
        ("emb", SpeedViews(BirdNETEmbedding(), speeds=(0.9, 1.0, 1.1))),
        ("agg", WindowAggregator(stats=("mean", "max"))),
    ]


def _birdnet_views_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.pipeline import make_pipeline as chain
    from sklearn.preprocessing import Normalizer, StandardScaler

    from .features.birdnet import BirdNETEmbedding
    from .features.views import SpeedViews
    from .features.windows import WindowAggregator
    from .models.views import ViewsClassifier

    # Each speed is a training row and a vote (benchmarks/speed_views.py, "views as rows
    # ... unit rows C=30"); unit-length rows are far apart only in direction, so the
    # penalty is weak (C=30).
    views = SpeedViews(
        BirdNETEmbedding(), speeds=(0.9, 1.0, 1.1), pool=WindowAggregator(stats=("mean", "max"))
    )
    head = chain(StandardScaler(), Normalizer(), LogisticRegression(C=30, max_iter=5000))
    return Pipeline([("emb", views), ("clf", ViewsClassifier(head))])


def _openl3_features():
    from .features.openl3 import OpenL3Embedding
    from .features.windows import WindowAggregator

    # 512-d env embedding at 0.5 s hop: a classifier's budget, not a retrieval index
    return [
        (
            "emb",
            OpenL3Embedding(content_type="env", input_repr="mel256", embedding_size=512, hop=0.5),
        ),
        ("agg", WindowAggregator(stats=("mean", "max"))),
    ]


def _linear():
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    # C=0.1: a few hundred clips and ~600 features want regularisation
    return [("scale", StandardScaler()), ("clf", LogisticRegression(C=0.1, max_iter=5000))]


def _forest():
    from sklearn.ensemble import RandomForestClassifier

    return [("clf", RandomForestClassifier(n_estimators=500, n_jobs=-1, random_state=0))]


def _pipe(*parts):
    from sklearn.pipeline import Pipeline

    return lambda: Pipeline([step for part in parts for step in part()])


register_pipeline(
    "logmel-linear",
    _pipe(_logmel_features, _linear),
    "log-mel (64 bands) -> mean/std/max + frame differences -> standardise -> logistic regression",
)
register_pipeline(
    "logmel-forest",
    _pipe(_logmel_features, _forest),
    "log-mel (64 bands) -> mean/std/max + frame differences -> random forest (500 trees)",
)
register_pipeline(
    "mfcc-linear",
    _pipe(_mfcc_features, _linear),
    "MFCC (20 + deltas) -> mean/std/min/max -> standardise -> logistic regression",
)
register_pipeline(
    "birdnet-linear",
    _pipe(_birdnet_features, _linear),
    "BirdNET V2.4 embeddings (3 s windows) -> mean/max -> standardise -> logistic regression "
    "[extra: birdnet; model CC BY-NC-SA 4.0]",
)
register_pipeline(
    "birdnet-forest",
    _pipe(_birdnet_features, _forest),
    "BirdNET V2.4 embeddings (3 s windows) -> mean/max -> random forest (500 trees) "
    "[extra: birdnet; model CC BY-NC-SA 4.0]",
)
register_pipeline(
    "birdnet-speeds",
    _pipe(_birdnet_speed_features, _linear),
    "BirdNET V2.4 embeddings of each clip played at 0.9x, 1x and 1.1x speed -> mean/max over "
    "all their windows -> standardise -> logistic regression (3x the BirdNET cost) "
    "[extra: birdnet; model CC BY-NC-SA 4.0]",
)
register_pipeline(
    "birdnet-views",
    _birdnet_views_pipeline,
    "BirdNET V2.4 embeddings of each clip at 0.9x, 1x and 1.1x speed, each speed pooled "
    "(mean/max) into its own row -> standardise -> unit length -> logistic regression on every "
    "row; a clip's class from the mean log-probability of its 3 rows (3x the BirdNET cost) "
    "[extra: birdnet; model CC BY-NC-SA 4.0]",
)
register_pipeline(
    "openl3-linear",
    _pipe(_openl3_features, _linear),
    "OpenL3 env/mel256 512-d embeddings (1 s windows, hop 0.5 s) -> mean/max -> standardise -> "
    "logistic regression [needs TensorFlow and the official weights: embedclf weights fetch]",
)
register_pipeline(
    "openl3-forest",
    _pipe(_openl3_features, _forest),
    "OpenL3 env/mel256 512-d embeddings (1 s windows, hop 0.5 s) -> mean/max -> random forest "
    "[needs TensorFlow and the official weights: embedclf weights fetch]",
)


def _cnn(architecture, augment=False, long=False):
    def factory():
        from .models import Augmenter, KerasCNN
        from .models.cnn import long_training

        params = long_training() if long else {}
        if augment:
            params["augment"] = Augmenter(copies=2)
        return KerasCNN(architecture=architecture, random_state=0, verbose=1, **params)

    return factory


register_pipeline(
    "cnn",
    _cnn("sbcnn"),
    "log-mel (40 bands) 1 s windows -> SB-CNN (3 conv blocks) -> mean window probabilities",
)
register_pipeline(
    "cnn-aug",
    _cnn("sbcnn", augment=True),
    "as `cnn`, trained with 2 augmented copies per clip (shift, stretch, pitch, noise)",
)
register_pipeline(
    "cnn-long",
    _cnn("sbcnn", long=True),
    "as `cnn`, trained 60 epochs on a cosine schedule with mixup and SpecAugment masks "
    "(embedclf.models.cnn.long_training): for a few dozen clips per class or more",
)
register_pipeline(
    "cnn-ds",
    _cnn("ds_cnn"),
    "log-mel (40 bands) 1 s windows -> depthwise-separable CNN (small)",
)
register_pipeline(
    "cnn-strided",
    _cnn("strided_ds"),
    "log-mel (40 bands) 1 s windows -> strided depthwise-separable CNN (tiny)",
)
