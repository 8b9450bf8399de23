"""The studio's web app: a JSON API over a :class:`~embedclf.studio.Project` and one page.

Built on Starlette (the ``studio`` extra). Every ``/api/`` request and the
page itself need the run's token (``?token=`` or the ``X-Studio-Token``
header), so another local user or a web page in the browser cannot drive the
studio. Uploads are read up to :data:`~embedclf.studio.MAX_UPLOAD_BYTES`.
Training and distillation run as background jobs the page polls.

Routes (all under the token): ``GET /api/project``; ``POST /api/classes``;
``PATCH``/``DELETE /api/classes/{label}``; ``POST /api/clips?label=&name=&cut=``
(the body is the audio file); ``GET /api/clip?id=`` (the WAV),
``GET /api/spectrogram?id=`` (a PNG), ``POST /api/clip/relabel``,
``DELETE /api/clip?id=``; ``POST /api/train``, ``GET /api/jobs/{id}``;
``POST /api/predict?name=`` (the body is the audio file);
``POST /api/live``, ``POST /api/live/{id}/push`` (the body is float32
little-endian samples), ``POST /api/live/{id}/stop``;
``GET /api/export/model``, ``GET /api/export/predictions.csv``,
``POST /api/export/distill``, ``GET /api/export/distill.zip``.
"""

from __future__ import annotations

import hmac
import io
import os
import secrets
import tempfile
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..pipelines import available_pipelines
from . import project as project_module
from .project import Project, ProjectError
from .training import (
    MODEL_FILE,
    PREDICTIONS_FILE,
    default_pipeline,
    load_results,
    load_trained,
    train_project,
)

__all__ = ["create_app", "serve_in_thread", "STATIC_DIR", "TOKEN_HEADER"]

#: The page's HTML, JavaScript and CSS (package data).
STATIC_DIR = Path(__file__).with_name("static")
#: The header (or ``token`` query parameter) that carries the run's token.
TOKEN_HEADER = "X-Studio-Token"
#: Live preview sessions kept at once (the oldest is dropped).
MAX_LIVE_SESSIONS = 4


class Job:
    """A background task (training, distillation) the page polls."""

    def __init__(self, kind, work):
        self.id = uuid.uuid4().hex[:12]
        self.kind, self.state, self.stage, self.progress = kind, "running", "starting", 0.0
        self.result = self.error = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def update(self, stage, fraction):
        self.stage, self.progress = stage, float(fraction)

    def _run(self, work):
        try:
            self.result = work(self)
            self.state, self.progress, self.stage = "done", 1.0, "done"
        except Exception as exc:  # shown on the page as one line
            self.state, self.error = "failed", " ".join(str(exc).split()) or type(exc).__name__

    def as_dict(self):
        return {
            "id": self.id,
            "kind": self.kind,
            "state": self.state,
            "stage": self.stage,
            "progress": self.progress,
            "result": self.result,
            "error": self.error,
        }

    def join(self, timeout=None):
        self._thread.join(timeout)


def _error(message, status=400):
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


async def _body(request):
    """The request body, refused past the upload limit (also when no length is declared)."""
    limit = project_module.MAX_UPLOAD_BYTES
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise ProjectError(f"the upload is over the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ProjectError(f"the upload is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _spectrogram_png(path):
    """A clip's log-mel spectrogram as a PNG (no plotting backend is touched)."""
    import matplotlib
    import matplotlib.image as mpimg

    from ..audio import load_audio
    from ..features.logmel import log_mel

    y, sr = load_audio(path, sr=16000)
    S = log_mel(y, sr, n_fft=512, hop_length=160, n_mels=64).T[::-1]
    lo, hi = np.percentile(S, [5, 99.5]) if S.size else (0.0, 1.0)
    rgba = matplotlib.colormaps["magma"](np.clip((S - lo) / max(hi - lo, 1e-6), 0, 1), bytes=True)
    buf = io.BytesIO()
    mpimg.imsave(buf, np.repeat(rgba, 2, axis=0), format="png")
    return buf.getvalue()


def _zip_folder(folder, path):
    """Zip ``folder`` (its files under its own name) into ``path``, atomically."""
    import zipfile

    from ..files import atomic_write

    folder = Path(folder)

    def write(tmp):
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(folder.rglob("*")):
                if f.is_file():
                    zf.write(f, (Path(folder.name) / f.relative_to(folder)).as_posix())

    atomic_write(path, write)


def create_app(root, *, token=None):
    """The studio app for the project in ``root``.

    Parameters
    ----------
    root : str or path-like
        The project folder (created when missing; a ``folder`` dataset opens as it is).
    token : str, optional
        The run's token; default a fresh random one (``app.state.token``).

    Returns
    -------
    starlette.applications.Starlette

    Examples
    --------
    >>> import tempfile
    >>> from starlette.testclient import TestClient
    >>> from embedclf.studio import create_app
    >>> app = create_app(tempfile.mkdtemp(), token="secret")
    >>> client = TestClient(app)
    >>> client.get("/api/project").status_code
    403
    >>> client.get("/api/project", headers={"X-Studio-Token": "secret"}).json()["classes"]
    []
    """
    project = Project.open(root)
    token = token or secrets.token_urlsafe(18)
    lock = threading.RLock()  # one change to the project at a time
    jobs, live = {}, {}
    state = {"model": None, "model_mtime": None}

    def model():
        """The trained model, reloaded when the file changed."""
        path = project.work_dir / MODEL_FILE
        mtime = path.stat().st_mtime_ns if path.is_file() else None
        if mtime != state["model_mtime"]:
            state["model"], state["model_mtime"] = load_trained(project), mtime
        if state["model"] is None:
            raise ProjectError("no trained model yet: train first")
        return state["model"]

    def summary():
        return {
            "root": str(project.root),
            "name": project.root.name,
            "clip_seconds": project.clip_seconds,
            "classes": [
                {"name": c, "clips": [r["id"] for r in project.clips(c)]} for c in project.classes()
            ],
            "pipeline": default_pipeline(),
            "pipelines": sorted(available_pipelines()),
            "results": load_results(project),
            "trained": (project.work_dir / MODEL_FILE).is_file(),
            "max_upload_bytes": project_module.MAX_UPLOAD_BYTES,
            "busy": any(j.state == "running" for j in jobs.values()),
        }

    async def index(request):
        if not hmac.compare_digest(request.query_params.get("token", ""), token):
            return HTMLResponse(
                "<h1>embedclf studio</h1><p>Open the address with the token that "
                "<code>embedclf studio</code> printed when it started.</p>",
                status_code=403,
            )
        return HTMLResponse((STATIC_DIR / "index.html").read_text(encoding="utf-8"))

    async def get_project(request):
        with lock:
            return JSONResponse(summary())

    async def add_class(request):
        data = await request.json()
        with lock:
            name = project.add_class(str(data.get("name", "")))
            return JSONResponse({"name": name, "project": summary()})

    async def change_class(request):
        label = request.path_params["label"]
        with lock:
            if request.method == "DELETE":
                project.delete_class(label)
                return JSONResponse({"project": summary()})
            data = await request.json()
            name = project.rename_class(label, str(data.get("name", "")))
            return JSONResponse({"name": name, "project": summary()})

    async def add_clips(request):
        q = request.query_params
        data = await _body(request)
        with lock:
            ids = project.add_audio(
                q.get("label", ""), data, q.get("name") or "clip.wav", cut=q.get("cut") == "1"
            )
            return JSONResponse({"ids": ids, "project": summary()})

    async def clip(request):
        clip_id = request.query_params.get("id", "")
        if request.method == "DELETE":
            with lock:
                project.delete_clip(clip_id)
                return JSONResponse({"project": summary()})
        return FileResponse(project.clip_path(clip_id))

    async def spectrogram(request):
        path = project.clip_path(request.query_params.get("id", ""))
        return Response(_spectrogram_png(path), media_type="image/png")

    async def relabel(request):
        data = await request.json()
        with lock:
            new = project.relabel(str(data.get("id", "")), str(data.get("label", "")))
            return JSONResponse({"id": new, "project": summary()})

    def start(kind, work):
        if any(j.state == "running" for j in jobs.values()):
            raise ProjectError("another job is running; wait until it ends")
        job = Job(kind, work)
        jobs[job.id] = job
        return JSONResponse(job.as_dict(), status_code=202)

    async def train(request):
        data = await request.json() if await request.body() else {}
        pipeline = data.get("pipeline") or None
        if pipeline is not None:
            if pipeline not in available_pipelines():
                raise ProjectError(f"unknown pipeline {pipeline!r}")

        def work(job):  # no lock: the page keeps polling while it trains
            return train_project(project, pipeline=pipeline, progress=job.update)

        return start("train", work)

    async def job(request):
        found = jobs.get(request.path_params["job"])
        if found is None:
            return _error("no such job", 404)
        return JSONResponse(found.as_dict())

    async def predict(request):
        from ..predict import predict_table

        data = await _body(request)
        name = os.path.basename(request.query_params.get("name") or "dropped.wav")
        suffix = os.path.splitext(name)[1].lower() or ".wav"
        fitted = model()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "dropped" + suffix)
            with open(path, "wb") as fh:
                fh.write(data)
            table = predict_table(fitted, [path])
        row = table.iloc[0]
        probs = {str(c): float(row[f"prob_{c}"]) for c in fitted.classes_}
        return JSONResponse({"name": name, "label": str(row["label"]), "probabilities": probs})

    async def live_start(request):
        from ..stream import Recognizer

        data = await request.json() if await request.body() else {}
        sr = int(data.get("sr") or 16000)
        if not 8000 <= sr <= 192000:
            raise ProjectError(f"sample rate {sr} is outside 8000..192000 Hz")
        seconds = project.clip_seconds
        rec = Recognizer(
            model(),
            window=seconds,
            hop=seconds / 2,
            smoothing=seconds,
            input_sr=sr,
            threshold=float(data.get("threshold", 0.5)),
        )
        while len(live) >= MAX_LIVE_SESSIONS:
            live.pop(next(iter(live)))
        sid = uuid.uuid4().hex[:12]
        live[sid] = rec
        return JSONResponse({"session": sid, "classes": [str(c) for c in rec.classes_]})

    def updates(update, classes):
        return {
            "windows": [
                {
                    "start": w.start,
                    "end": w.end,
                    "scores": {str(c): float(s) for c, s in zip(classes, w.scores)},
                    "smoothed": {str(c): float(s) for c, s in zip(classes, w.smoothed)},
                }
                for w in update.windows
            ],
            "events": [e.as_dict() for e in update.events],
        }

    async def live_push(request):
        rec = live.get(request.path_params["session"])
        if rec is None:
            return _error("no such live session; start a new one", 404)
        data = await _body(request)
        if len(data) % 4:
            raise ProjectError("live audio must be float32 samples (a multiple of 4 bytes)")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the resampling note: the browser's rate is known
            update = rec.push(np.frombuffer(data, "<f4").astype(np.float32))
        return JSONResponse(updates(update, rec.classes_))

    async def live_stop(request):
        rec = live.pop(request.path_params["session"], None)
        if rec is None:
            return _error("no such live session", 404)
        out = updates(rec.flush(), rec.classes_)
        out["all_events"] = [e.as_dict() for e in rec.events]
        return JSONResponse(out)

    async def export_model(request):
        path = project.work_dir / MODEL_FILE
        if not path.is_file():
            raise ProjectError("no trained model yet: train first")
        return FileResponse(path, filename=f"{project.root.name}.skops")

    async def export_predictions(request):
        path = project.work_dir / PREDICTIONS_FILE
        if not path.is_file():
            raise ProjectError("no predictions yet: train first")
        return FileResponse(
            path, media_type="text/csv", filename=f"{project.root.name}-predictions.csv"
        )

    async def export_distill(request):
        data = await request.json() if await request.body() else {}
        budget = {}
        for key in ("max_flash_kb", "max_ram_kb"):
            value = data.get(key)
            if value not in (None, ""):
                budget[key] = float(value)
                if not budget[key] > 0:
                    raise ProjectError(f"{key} must be a positive number of kilobytes")
        quick = {k: data[k] for k in ("epochs", "width") if data.get(k) not in (None, "")}
        teacher = model()

        def work(job):
            from ..audio import load_audio
            from ..distill import RECIPE, distill_and_export
            from ..pipelines import pipeline_sr

            recipe = RECIPE.replace(
                **{k: (int(v) if k == "epochs" else float(v)) for k, v in quick.items()}
            )
            job.update("distilling", 0.05)
            rows = project.clips()
            X = [load_audio(r["path"], sr=pipeline_sr(teacher))[0] for r in rows]
            out = project.work_dir / "export"
            report = distill_and_export(
                teacher, X, [r["label"] for r in rows], out, recipe=recipe, **budget
            )
            job.update("packing", 0.95)
            _zip_folder(out, project.work_dir / "export.zip")
            return {k: v for k, v in report.items() if not isinstance(v, (dict, list))}

        return start("distill", work)

    async def export_zip(request):
        path = project.work_dir / "export.zip"
        if not path.is_file():
            raise ProjectError("no distilled export yet: distill first")
        return FileResponse(
            path, media_type="application/zip", filename=f"{project.root.name}-device.zip"
        )

    def guarded(endpoint):
        async def call(request: Request):
            given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token", "")
            if not hmac.compare_digest(given, token):
                return _error("missing or wrong token: open the address the studio printed", 403)
            try:
                return await endpoint(request)
            except ProjectError as exc:
                return _error(exc)
            except (ValueError, OSError) as exc:  # unreadable audio, a bad request body
                return _error(exc)

        return call

    api = [
        ("/api/project", get_project, ["GET"]),
        ("/api/classes", add_class, ["POST"]),
        ("/api/classes/{label}", change_class, ["PATCH", "DELETE"]),
        ("/api/clips", add_clips, ["POST"]),
        ("/api/clip", clip, ["GET", "DELETE"]),
        ("/api/clip/relabel", relabel, ["POST"]),
        ("/api/spectrogram", spectrogram, ["GET"]),
        ("/api/train", train, ["POST"]),
        ("/api/jobs/{job}", job, ["GET"]),
        ("/api/predict", predict, ["POST"]),
        ("/api/live", live_start, ["POST"]),
        ("/api/live/{session}/push", live_push, ["POST"]),
        ("/api/live/{session}/stop", live_stop, ["POST"]),
        ("/api/export/model", export_model, ["GET"]),
        ("/api/export/predictions.csv", export_predictions, ["GET"]),
        ("/api/export/distill", export_distill, ["POST"]),
        ("/api/export/distill.zip", export_zip, ["GET"]),
    ]
    routes = [Route("/", index)]
    routes += [Route(path, guarded(fn), methods=methods) for path, fn, methods in api]
    routes.append(Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"))
    app = Starlette(routes=routes)
    app.state.token, app.state.project, app.state.jobs = token, project, jobs
    return app


def serve_in_thread(app, *, host="127.0.0.1", port=0, timeout=30):
    """Serve ``app`` with uvicorn in a background thread (for scripts, notebooks and tests).

    Parameters
    ----------
    app : starlette.applications.Starlette
        From :func:`create_app`.
    host : str, default="127.0.0.1"
    port : int, default=0
        0 picks a free port.
    timeout : float, default=30
        Seconds to wait for the server to start.

    Returns
    -------
    url : str
        The page's address with the token.
    stop : callable
        Stops the server and waits for its thread.

    Examples
    --------
    >>> import tempfile, urllib.request
    >>> from embedclf.studio.app import create_app, serve_in_thread
    >>> url, stop = serve_in_thread(create_app(tempfile.mkdtemp()))
    >>> urllib.request.urlopen(url).status
    200
    >>> stop()
    """
    import time

    import uvicorn

    server = uvicorn.Server(
        uvicorn.Config(app, host=host, port=port, log_level="warning", ws="none")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    end = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > end:
            server.should_exit = True
            raise OSError(f"the studio server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]

    def stop():
        server.should_exit = True
        thread.join(timeout)

    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{bound}/?token={app.state.token}", stop
