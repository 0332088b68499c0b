"""The FastAPI application: a JSON API (``/api/...``) and the static page that uses it.

``create_app(settings)`` builds a self-contained app (its own upload folder and job queue), so
tests and the ``serve`` command can run several side by side. Endpoints:

- ``POST /api/restore``: multipart ``file`` (+ ``task``, ``model``, ``sigma``, ``scale``,
  ``mask``) -> the restored image, in the input's format and bit depth. For scripts.
- ``POST /api/jobs``: the same fields -> ``202 {"id": ...}``; ``GET /api/jobs/{id}`` tells
  stage and progress; ``GET /api/jobs/{id}/result`` and ``.../preview/{input,output}`` give
  the image and 8-bit PNG previews. For the page.
- ``GET /api/models``, ``GET /api/config``; the OpenAPI schema at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from restorekit import __version__
from restorekit.errors import RestorekitError
from restorekit.io import EIGHT_BIT_FORMATS
from restorekit.serve.errors import BadRequest, JobTimeout, PayloadTooLarge, ServeError
from restorekit.serve.hosts import AllowedHostsMiddleware
from restorekit.serve.jobs import DONE, FAILED, JobContext, JobQueue
from restorekit.serve.limits import BodyLimitMiddleware
from restorekit.serve.pipeline import (
    NOISE_CROP,
    SR_SCALES,
    TASKS,
    RestoreRequest,
    available_models,
    limit_torch_threads,
    noise_level,
    parse_request,
    result_pixels,
    run_restore,
)
from restorekit.serve.settings import ServeSettings
from restorekit.serve.uploads import (
    MEDIA_TYPE_BY_FORMAT,
    UploadFolder,
    decode_image,
    decode_mask,
    display_name,
    download_name,
    encode_like,
    png_preview,
    probe_image,
)

log = logging.getLogger("restorekit.serve")

STATIC_DIR = Path(__file__).resolve().parent / "static"
_CHUNK = 1024 * 1024
_FORM_OVERHEAD = 64 * 1024  # multipart boundaries and small fields on top of the files
_JOB_ID = r"^[A-Za-z0-9_-]{1,64}$"
_LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "object-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class JobResult:
    """A finished restore: the encoded image, what was done, and previews for the page."""

    data: bytes
    media_type: str
    filename: str
    info: dict[str, Any]
    preview_input: bytes | None = None
    preview_output: bytes | None = None

    @property
    def nbytes(self) -> int:
        """Memory held, for the job queue's budget of kept results."""
        return len(self.data) + len(self.preview_input or b"") + len(self.preview_output or b"")


@dataclass
class ServerState:
    """Everything one app owns: settings, upload folder, job queue, cached model list."""

    settings: ServeSettings
    folder: UploadFolder = field(init=False)
    queue: JobQueue = field(init=False)
    _models: dict[str, list[str]] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.folder = UploadFolder(s.temp_dir)
        self.queue = JobQueue(s.workers, s.max_queue, s.timeout_seconds, s.result_ttl_seconds)

    def models(self) -> dict[str, list[str]]:
        if self._models is None:
            self._models = {t: ["auto", *available_models(t)] for t in TASKS}
        return self._models

    def close(self) -> None:
        self.queue.close()
        self.folder.close()


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.3g} MB" if n >= 1024 * 1024 else f"{n:,} bytes"


def create_app(settings: ServeSettings | None = None) -> FastAPI:
    """Build the web app for ``settings`` (default: loopback, the default limits)."""
    settings = settings or ServeSettings()
    state = ServerState(settings)
    atexit.register(state.close)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()
        atexit.unregister(state.close)  # closed already; let the state be freed

    app = FastAPI(
        title="restorekit",
        version=__version__,
        description="Restore damaged images (noise, JPEG blocking, low resolution, missing "
                    "regions). Upload an image as multipart field `file`.",
        lifespan=lifespan,
        docs_url=None,  # Swagger/ReDoc pages load scripts from a CDN; the schema is enough
        redoc_url=None,
    )
    app.state.serve = state
    too_large = (f"the upload is too large: the limit is {_mb(settings.max_upload_bytes)} per "
                 "file")
    app.add_middleware(BodyLimitMiddleware, max_bytes=2 * settings.max_upload_bytes
                       + _FORM_OVERHEAD, message=too_large)
    if settings.is_loopback:  # refuse DNS-rebinding requests naming another host
        app.add_middleware(AllowedHostsMiddleware, hosts=_LOOPBACK_HOSTS)
    _add_error_handlers(app)
    _add_api(app, state, too_large)
    _add_page(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServeError)
    async def serve_error(request: Request, exc: ServeError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    @app.exception_handler(RestorekitError)
    async def restorekit_error(request: Request, exc: RestorekitError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = []
        for err in exc.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            if err.get("type") == "missing":
                parts.append(f"missing form field '{where}'")
            else:
                parts.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"detail": "; ".join(parts) or "invalid request"}, status_code=422)


async def _save_upload(upload: UploadFile, target: Path, limit: int, message: str) -> None:
    """Copy an upload to ``target`` in chunks, refusing it once it passes ``limit`` bytes."""
    size = 0
    with open(target, "xb") as out:
        while chunk := await upload.read(_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(message)
            await run_in_threadpool(out.write, chunk)


def _add_api(app: FastAPI, state: ServerState, too_large: str) -> None:
    s = state.settings
    queue = state.queue

    async def submit(file: UploadFile, mask: UploadFile | None, request: RestoreRequest,
                     previews: bool) -> Any:
        name = display_name(file.filename)
        job_dir = state.folder.new_job_dir()
        try:
            source = job_dir / "input"
            await _save_upload(file, source, s.max_upload_bytes, too_large)
            probe = await run_in_threadpool(probe_image, source, name, s.allowed_formats,
                                            s.max_pixels)
            out_pixels = result_pixels(probe.width, probe.height, request)
            if out_pixels > s.max_pixels:
                raise PayloadTooLarge(f"the x{request.scale} result of '{name}' would have "
                                      f"{out_pixels:,} pixels, over this server's limit of "
                                      f"{s.max_pixels:,}")
            mask_path, mask_name = None, ""
            if request.task == "inpaint":
                if mask is None or (not mask.filename and not mask.size):
                    raise BadRequest("inpainting needs a mask: draw one or upload an image "
                                     "that is white where pixels are missing (field 'mask')")
                mask_name = display_name(mask.filename, "mask")
                mask_path = job_dir / "mask"
                await _save_upload(mask, mask_path, s.max_upload_bytes, too_large)
                await run_in_threadpool(probe_image, mask_path, mask_name, s.allowed_formats,
                                        s.max_pixels)
        except BaseException:
            state.folder.remove(job_dir)
            raise

        def work(ctx: JobContext) -> JobResult:
            ctx.report("reading the image", 0.02)
            image, meta = decode_image(source, name, s.max_pixels)
            holes = None
            if mask_path is not None:
                holes = decode_mask(mask_path, mask_name, s.max_pixels, image.shape[:2])
            preview_in = png_preview(image) if previews else None
            ctx.report("estimating the noise level", 0.05)
            noise = noise_level(image)
            limit_torch_threads(s.workers)
            ctx.report("restoring", 0.1)

            def on_tiles(done: int, total: int) -> None:
                ctx.report(f"restoring (tile {done}/{total})", 0.1 + 0.8 * done / max(total, 1))

            whole = max(image.shape[:2]) <= NOISE_CROP  # the estimate covers the whole image
            q = meta.jpeg_quality
            out, info = run_restore(image, request, mask=holes, device=s.device,
                                    progress=on_tiles, estimated_sigma=noise if whole else None,
                                    jpeg_quality=None if q is None else q.quality)
            ctx.report("encoding the result", 0.9)
            data = encode_like(out, meta, job_dir)
            info.update(noise_sigma=None if noise is None else round(noise, 2),
                        jpeg_quality=None if q is None else q.quality,
                        jpeg_quality_exact=None if q is None else q.exact,
                        format=meta.format, filename=name,
                        bit_depth=8 if meta.format in EIGHT_BIT_FORMATS else meta.bit_depth,
                        input_width=int(image.shape[1]), input_height=int(image.shape[0]))
            return JobResult(data, MEDIA_TYPE_BY_FORMAT[meta.format],
                             download_name(name, meta.format), info, preview_in,
                             png_preview(out) if previews else None)

        try:
            return queue.submit(work, cleanup=lambda: state.folder.remove(job_dir))
        except BaseException:  # busy: the files will never be used
            state.folder.remove(job_dir)
            raise

    def image_response(result: JobResult) -> Response:
        info = result.info
        headers = {
            "Content-Disposition": f'attachment; filename="{result.filename}"',
            "X-Restorekit-Method": str(info["method"]),
            "X-Restorekit-Seconds": str(info["seconds"]),
            "Cache-Control": "no-store",
        }
        if info.get("sigma") is not None:
            headers["X-Restorekit-Sigma"] = f"{info['sigma']:.3f}"
        if info.get("noise_sigma") is not None:
            headers["X-Restorekit-Noise-Sigma"] = f"{info['noise_sigma']:.3f}"
        if info.get("jpeg_quality") is not None:
            headers["X-Restorekit-Jpeg-Quality"] = str(info["jpeg_quality"])
        return Response(result.data, media_type=result.media_type, headers=headers)

    image_types = {t: {} for t in MEDIA_TYPE_BY_FORMAT.values()}
    errors: dict[int | str, dict[str, Any]] = {
        400: {"description": "Bad field (task, model, sigma, scale, mask)"},
        413: {"description": "Upload too large, or too many pixels"},
        415: {"description": "Not an image, or a format this server does not accept"},
        422: {"description": "Corrupt image, or a missing field"},
        503: {"description": "Queue full"},
        504: {"description": "Timed out"},
    }
    file_doc = File(..., description="The image (PNG, JPEG, TIFF, BMP, WebP; 8 or 16 bit)")
    task_doc = Form("denoise", description=f"One of {', '.join(TASKS)}")
    model_doc = Form("auto", description="'auto' or a name from GET /api/models")
    sigma_doc = Form(None, description="Noise level on the 0-255 scale; estimated if empty")
    scale_doc = Form(None, description=f"Super-resolution factor: {SR_SCALES}")
    mask_doc = File(None, description="Inpainting mask: white where pixels are missing")

    @app.post("/api/restore", response_class=Response, tags=["restore"],
              responses={200: {"content": image_types,
                               "description": "The restored image, in the input's format and "
                                              "bit depth"}, **errors})
    async def restore(file: UploadFile = file_doc, task: str = task_doc,
                      model: str = model_doc, sigma: str | None = sigma_doc,
                      scale: str | None = scale_doc,
                      mask: UploadFile | None = mask_doc) -> Response:
        """Restore one image and answer with the result (waits for it, up to the timeout)."""
        job = await submit(file, mask, parse_request(task, model, sigma, scale), False)
        remaining = max(0.0, job.deadline - time.monotonic())
        try:
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)), remaining)
        except asyncio.TimeoutError:
            queue.wait_expired(job)
        job = queue.get(job.id)
        queue.discard(job.id)
        if job.state != DONE:
            return JSONResponse({"detail": job.error or "the request timed out"},
                                status_code=job.status_code if job.state == FAILED
                                else JobTimeout.status_code)
        return image_response(job.result)

    @app.post("/api/jobs", status_code=202, tags=["jobs"], responses=errors)
    async def create_job(file: UploadFile = file_doc, task: str = task_doc,
                         model: str = model_doc, sigma: str | None = sigma_doc,
                         scale: str | None = scale_doc,
                         mask: UploadFile | None = mask_doc) -> dict[str, Any]:
        """Queue a restore and answer at once with its id; poll GET /api/jobs/{id}."""
        job = await submit(file, mask, parse_request(task, model, sigma, scale), True)
        return {"id": job.id, "status_url": f"/api/jobs/{job.id}"}

    job_id_doc = PathParam(..., pattern=_JOB_ID)

    @app.get("/api/jobs/{job_id}", tags=["jobs"])
    async def job_status(job_id: str = job_id_doc) -> dict[str, Any]:
        """Stage, progress (0..1), queue position, and when done what was done."""
        status = queue.snapshot(job_id)
        if status["state"] == DONE:
            result: JobResult = queue.get(job_id).result
            status.update(info=result.info, download_name=result.filename,
                          result_url=f"/api/jobs/{job_id}/result",
                          preview_urls={w: f"/api/jobs/{job_id}/preview/{w}"
                                        for w in ("input", "output")})
        return status

    def finished(job_id: str) -> JobResult:
        job = queue.get(job_id)
        if job.state == FAILED:
            raise _status_error(job.error or "the job failed", job.status_code)
        if job.state != DONE:
            raise _status_error("the job has not finished yet", 409)
        return job.result

    @app.get("/api/jobs/{job_id}/result", response_class=Response, tags=["jobs"],
             responses={200: {"content": image_types}})
    async def job_result(job_id: str = job_id_doc) -> Response:
        """The restored image, in the input's format and bit depth, as a download."""
        return image_response(finished(job_id))

    @app.get("/api/jobs/{job_id}/preview/{which}", response_class=Response, tags=["jobs"],
             responses={200: {"content": {"image/png": {}}}})
    async def job_preview(job_id: str = job_id_doc,
                          which: str = PathParam(..., pattern="^(input|output)$")) -> Response:
        """An 8-bit PNG of the input or the result, for display in the page."""
        result = finished(job_id)
        data = result.preview_input if which == "input" else result.preview_output
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    @app.get("/api/models", tags=["info"])
    async def models() -> dict[str, Any]:
        """Model names per task; 'auto' picks the best available for the image."""
        return {"tasks": list(TASKS), "models": await run_in_threadpool(state.models),
                "scales": list(SR_SCALES)}

    @app.get("/api/config", tags=["info"])
    async def config() -> dict[str, Any]:
        """This server's limits."""
        return {"max_upload_bytes": s.max_upload_bytes, "max_pixels": s.max_pixels,
                "allowed_formats": list(s.allowed_formats), "timeout_seconds": s.timeout_seconds,
                "workers": s.workers, "max_queue": s.max_queue, "version": __version__}


def _status_error(message: str, status: int) -> ServeError:
    err = ServeError(message)
    err.status_code = status
    return err


def _add_page(app: FastAPI) -> None:
    index = (STATIC_DIR / "index.html").read_text(encoding="utf-8")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page() -> HTMLResponse:
        return HTMLResponse(index, headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
