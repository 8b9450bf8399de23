"""Feature extractors: log-mel, MFCC, analysis windows and pooling."""

from .logmel import MFCC, LogMel, log_mel, mfcc
from .windows import WindowAggregator, split_windows

__all__ = ["LogMel", "MFCC", "log_mel", "mfcc", "WindowAggregator", "split_windows"]
