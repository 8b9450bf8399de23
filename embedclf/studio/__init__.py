"""embedclf studio: teach a sound classifier in the browser, then take it to a device.

:class:`Project` (pure Python) keeps the project folder: one sub-folder of WAV
clips per class and a project file. :func:`train_project` trains and
cross-validates a named pipeline on it. :func:`create_app` is the web app
(Starlette, the ``studio`` extra) that ``embedclf studio`` serves; it is
imported only when asked for, so this package needs no web server to use.

Examples
--------
>>> import tempfile
>>> from embedclf.studio import Project
>>> Project.open(tempfile.mkdtemp()).classes()
[]
"""

from importlib import import_module

from .project import MAX_UPLOAD_BYTES, PROJECT_FILE, Project, ProjectError, safe_name

__all__ = [
    "Project",
    "ProjectError",
    "safe_name",
    "PROJECT_FILE",
    "MAX_UPLOAD_BYTES",
    "train_project",
    "default_pipeline",
    "create_app",
]

_LAZY = {
    "train_project": "embedclf.studio.training",
    "default_pipeline": "embedclf.studio.training",
    "create_app": "embedclf.studio.app",
}


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'embedclf.studio' has no attribute {name!r}")
