"""scikit-learn's own estimator checks on every public estimator.

Each expected failure is listed with the reason it is a deliberate design
choice, not a bug.
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from embedclf import MFCC, AudioLoader, LogMel, WindowAggregator

_LIST_OUTPUT = (
    "transform returns one (n_frames, n_features) array per clip in a list, because clips have "
    "different lengths; WindowAggregator turns them into the 2-D matrix the check expects"
)
_INT_SAMPLES = (
    "integer samples are ambiguous (int16 and int32 PCM have different full scales), so clips "
    "must be float waveforms or file paths; an AudioError says so"
)

CLIP_TRANSFORMER_XFAILS = {
    "check_transformer_general": _LIST_OUTPUT,
    "check_transformer_data_not_an_array": _LIST_OUTPUT,
    "check_transformer_preserve_dtypes": _LIST_OUTPUT,
    "check_estimators_dtypes": _INT_SAMPLES,
}


def _expected_failures(estimator):
    if isinstance(estimator, WindowAggregator):
        return {}
    return CLIP_TRANSFORMER_XFAILS


@parametrize_with_checks(
    [
        AudioLoader(sr=8000),
        LogMel(sr=8000, n_fft=64, hop_length=32, n_mels=8),
        LogMel(sr=8000, n_fft=64, hop_length=32, n_mels=8, normalize="window",
               normalize_window=0.01, n_jobs=2),
        MFCC(sr=8000, n_fft=64, hop_length=32, n_mels=8, n_mfcc=4, deltas=1, delta_width=3),
        WindowAggregator(),
        WindowAggregator(stats=("mean", "max"), quantiles=(0.1, 0.9), deltas=True),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
