"""Old name of :mod:`embedclf.models.windows`, kept so existing imports keep working."""

from .windows import LOG_FLOOR, POOLINGS, pool_windows, spectrogram_windows, window_frames

__all__ = ["LOG_FLOOR", "POOLINGS", "pool_windows", "spectrogram_windows", "window_frames"]
