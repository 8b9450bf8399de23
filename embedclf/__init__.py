"""embedclf: embeddings-first audio classification, the scikit-learn way.

Public names are imported lazily, so ``import embedclf`` stays fast and never
pulls in heavy dependencies until they are used.

Examples
--------
>>> import embedclf
>>> sorted(embedclf.__all__)[:3]
['AudioError', 'AudioLoader', 'BirdNETEmbedding']
"""

from importlib import import_module

__version__ = "0.3.0.dev0"

_LAZY = {
    "AudioError": "embedclf.audio",
    "AudioLoader": "embedclf.audio",
    "BirdNETEmbedding": "embedclf.features.birdnet",
    "Distiller": "embedclf.distill",
    "KerasCNN": "embedclf.models",
    "LogMel": "embedclf.features.logmel",
    "MFCC": "embedclf.features.logmel",
    "OpenL3Embedding": "embedclf.features.openl3",
    "Recognizer": "embedclf.stream",
    "SpeedViews": "embedclf.features.views",
    "ViewsClassifier": "embedclf.models.views",
    "WindowAggregator": "embedclf.features.windows",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'embedclf' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
