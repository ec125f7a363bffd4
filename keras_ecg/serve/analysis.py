"""The whole-recording and explanation routes, their downloads, and the viewer's demo record.

    POST /v1/annotate?model=N   multipart ``files`` (a WFDB record's .hea + .dat, an EDF, or a CSV with form field
                                ``fs``), optional ``span`` fields ``START:END`` (seconds, as ``--span``): beats,
                                rhythm episodes, summary, and links to the files ``keras-ecg annotate`` writes
    POST /v1/explain?model=N    multipart ``files`` (a page, a CSV of beats, a WFDB record or an EDF), form fields
                                ``method``, ``max``, ``class_name``: ``keras-ecg explain``'s items, the attributions
                                as JSON and a link to the picture
    GET  /v1/results/{id}/{file}      a file of an answer above, for ``ttl`` seconds (:mod:`.results`)
    GET  /v1/results/{id}/signal      ``?start=S&end=S``: the annotated lead band-passed, for the viewer
    GET  /v1/demo/record              the synthetic demo record (``keras_ecg.data.synthetic``) as JSON samples

Annotate is :func:`keras_ecg.deploy.annotate.annotate`, ``with_rhythm`` and ``write``, the calls of
``keras-ecg annotate``; explain is :func:`keras_ecg.deploy.explain_files.explain_paths`, the call of
``keras-ecg explain``: the service and the commands give the same files for the same input.
"""

# no `from __future__ import annotations`: FastAPI reads the endpoints' annotations

import contextlib
import json
import pathlib
import shutil
import tempfile

import numpy as np

from keras_ecg import _atomic
from keras_ecg.errors import DataError

SIGNAL_FILE = "signal.f32"
MAX_SIGNAL_SECONDS = 120.0  # the most one /signal request gives
DEMO_MINUTES, DEMO_FS, DEMO_SEED = 2.0, 360.0, 7


def _beats(a, card) -> list:
    names = list(card.class_names)
    flags = np.zeros(len(a.classes), bool) if a.uncertain is None else np.asarray(a.uncertain, bool)
    out = []
    for s, c, p, u in zip(a.samples, a.classes, a.probs, flags):
        probs = {"risk": float(p[0])} if len(p) == 1 else {n: float(v) for n, v in zip(names, p)}
        out.append({"sample": int(s), "time": round(float(s) / a.record.fs, 3), "label": c, "probabilities": probs,
                    "uncertain": bool(u)})
    return out


def _save_lead(rec, lead: int, path: pathlib.Path, block: int = 1 << 20) -> None:
    n = int(getattr(rec, "n_samples", None) or len(rec.signal))
    with open(path, "wb") as f:
        for i in range(0, n, block):
            j = min(i + block, n)
            seg = rec.read(i, j, [lead])[:, 0] if hasattr(rec, "read") else rec.signal[i:j, lead]
            f.write(np.asarray(seg, dtype="<f4").tobytes())


def _spans(texts):
    import argparse

    from keras_ecg.deploy.commands import _span

    out = []
    for t in texts or []:
        try:
            out.append(_span(t))
        except argparse.ArgumentTypeError as e:
            raise DataError(f"span {e}") from None
    return out or None


@contextlib.contextmanager
def _folders(results):
    """``(id, output folder, upload folder)`` of one answer: the output folder is removed when the body fails
    (it publishes it with ``results.keep`` when it succeeds), the upload folder always."""
    rid, out = results.new_folder()
    inp = pathlib.Path(tempfile.mkdtemp(prefix="keras-ecg-upload-"))
    try:
        yield rid, out, inp
    except BaseException:
        results.discard(out)
        raise
    finally:
        shutil.rmtree(inp, ignore_errors=True)


def annotate_upload(served, files, fs, spans, results, max_duration_s) -> dict:
    """Annotate the uploaded recording as ``keras-ecg annotate`` does; the answer of ``POST /v1/annotate``."""
    from keras_ecg.deploy import annotate as A
    from keras_ecg.serve import uploads

    spans = _spans(spans)
    with _folders(results) as (rid, out, inp):
        up = uploads.save(files, inp, fs=fs, max_duration_s=max_duration_s, kinds=("wfdb", "edf", "csv", "recording"))
        if up.kind == "csv" and fs is None:
            raise uploads.UploadError(422, f"{up.name}: a CSV recording needs its sampling rate (form field fs)")
        card = served.card
        a = A.with_rhythm(A.annotate(served.classifier, up.path, fs=fs), card)
        paths = A.write(a, card, out, spans=spans)
        lead = a.record.leads.index(a.lead)
        _save_lead(a.record, lead, out / SIGNAL_FILE)
        summary = json.loads(pathlib.Path(paths["summary_json"]).read_text())
        summary["record"] = up.name
        _atomic.write_json(paths["summary_json"], summary)
        for kind in ("summary_txt", "header"):  # they name the input's path: our private folder, taken out
            text = pathlib.Path(paths[kind]).read_text()
            _atomic.write_text(paths[kind], text.replace(str(inp) + "/", "").replace(str(inp), ""))
        files_out = {pathlib.Path(p).name: pathlib.Path(p) for p in paths.values()}
        files_out[SIGNAL_FILE] = out / SIGNAL_FILE
        ttl = results.keep(rid, out, files_out)
    link = {k: f"/v1/results/{rid}/{pathlib.Path(p).name}" for k, p in paths.items()}
    n = int(getattr(a.record, "n_samples", None) or len(a.record.signal))
    return {"model": served.name, "id": rid, "expires_in_s": ttl, "record": a.record.name, "input": up.name,
            "fs": float(a.record.fs), "lead": a.lead, "leads": list(a.record.leads), "n_samples": n,
            "duration_s": n / float(a.record.fs), "class_names": list(card.class_names),
            "beats": _beats(a, card), "episodes": [e.to_dict() for e in a.episodes or []], "summary": summary,
            "files": link, "signal": f"/v1/results/{rid}/signal"}


def explain_upload(served, files, method, max_items, class_name, results, max_duration_s) -> dict:
    """Explain the uploaded page or beats as ``keras-ecg explain`` does; the answer of ``POST /v1/explain``."""
    from keras_ecg.deploy.explain_files import explain_paths
    from keras_ecg.serve import uploads

    with _folders(results) as (rid, out, inp):
        up = uploads.save(files, inp, max_duration_s=max_duration_s, kinds=("image", "wfdb", "edf", "csv", "recording"))
        entries = explain_paths(served.keras_model(), served.card, [up.path], out, method, max_items, class_name,
                                log=lambda *_: None)
        pictures = sorted({e["picture"] for e in entries})
        kept = {p: out / p for p in pictures}
        kept.update({pathlib.Path(p).with_suffix(".npz").name: out / pathlib.Path(p).with_suffix(".npz")
                     for p in pictures})
        attributions = [np.load(out / pathlib.Path(p).with_suffix(".npz"))["attributions"] for p in pictures]
        ttl = results.keep(rid, out, kept)
    for e in entries:
        e["input"] = up.name
        e["picture"] = f"/v1/results/{rid}/{e['picture']}"
        if isinstance(e.get("item"), str) and e["item"].startswith(str(inp)):
            e["item"] = up.name
    return {"model": served.name, "id": rid, "expires_in_s": ttl, "input": up.name, "kind": up.kind,
            "input_kind": served.card.input_kind, "items": entries,
            "attributions": [{"picture": f"/v1/results/{rid}/{p}", "shape": list(a.shape),
                              "values": np.round(a.astype(np.float64), 4).tolist()}
                             for p, a in zip(pictures, attributions)]}


def signal_slice(path: pathlib.Path, fs: float, start_s: float, end_s: float) -> dict:
    """``{start, fs, samples}``: the stored lead from ``start_s`` to ``end_s`` band-passed as the strip chart's."""
    from keras_ecg.data import signal as S

    x = np.memmap(path, dtype="<f4", mode="r")
    i0, i1 = max(int(start_s * fs), 0), min(int(end_s * fs), len(x))
    if i1 <= i0:
        return {"start": i0, "fs": fs, "samples": []}
    m = int(5 * fs)  # filter margins, cut off after
    j0, j1 = max(i0 - m, 0), min(i1 + m, len(x))
    seg = np.asarray(x[j0:j1], dtype=np.float32)
    seg = S.bandpass(seg, fs) if len(seg) > 3 * fs else seg - np.median(seg)
    return {"start": i0, "fs": fs, "samples": np.round(seg[i0 - j0:i1 - j0].astype(np.float64), 4).tolist()}


def demo_record() -> dict:
    """The synthetic demo record (not real ECG): its samples in mV, rate, lead and reference beats."""
    from keras_ecg.data import synthetic, synthetic_wfdb

    sig, peaks, labels = synthetic.record(duration_s=60.0 * DEMO_MINUTES, fs=DEMO_FS, seed=DEMO_SEED,
                                          class_probs=synthetic_wfdb.DEMO_CLASS_PROBS)
    return {"fs": DEMO_FS, "leads": ["MLII"], "note": "synthetic record, not real ECG",
            "samples": np.round(np.asarray(sig, dtype=np.float64), 4).tolist(),
            "reference": [{"sample": int(p), "label": synthetic.CLASSES[int(k)]} for p, k in zip(peaks, labels)]}


def add_routes(app, models, results, jobs, authorised, pick_model, max_duration_s, metrics) -> None:
    """Add the routes of this module's doc to ``app`` (built by :func:`keras_ecg.serve.app.create_app`)."""
    from fastapi import Depends, File, Form, HTTPException, Query, UploadFile
    from fastapi.responses import FileResponse

    auth = [Depends(authorised)]
    demo_cache = {}

    @app.post("/v1/annotate", dependencies=auth)
    async def annotate(files: list[UploadFile] = File(..., description="a WFDB record's .hea and .dat files, an "
                                                                         "EDF file, or a CSV recording (with fs)"),
                       fs: float | None = Form(None, description="sampling rate (Hz) of a CSV recording"),
                       span: list[str] | None = Form(None, description="strip-chart spans START:END in seconds"),
                       model: str | None = Query(None, description="the model's name (GET /v1/models)")):
        served = pick_model(model)
        answer = await jobs.run(lambda: annotate_upload(served, files, fs, span, results, max_duration_s),
                                hide=(tempfile.gettempdir(),))
        metrics.inc("keras_ecg_predictions_total", 1, model=served.name)
        if answer["beats"]:
            metrics.inc("keras_ecg_beats_classified_total", len(answer["beats"]), model=served.name)
        return answer

    @app.post("/v1/explain", dependencies=auth)
    async def explain(files: list[UploadFile] = File(..., description="a page image, a CSV of beats, a WFDB "
                                                                        "record's files or an EDF file"),
                      method: str = Form("auto", description="auto, gradcam, ig or saliency"),
                      max_items: int = Form(6, alias="max", ge=1, le=64, description="at most this many beats"),
                      class_name: str | None = Form(None, description="explain this class (default: predicted)"),
                      model: str | None = Query(None, description="the model's name (GET /v1/models)")):
        served = pick_model(model)
        return await jobs.run(lambda: explain_upload(served, files, method, max_items, class_name, results,
                                                     max_duration_s), hide=(tempfile.gettempdir(),))

    @app.get("/v1/results/{rid}/signal", dependencies=auth)
    def signal(rid: str, start: float = Query(0.0, ge=0.0, le=1e7), end: float = Query(10.0, ge=0.0, le=1e7)):
        path = results.get(rid, SIGNAL_FILE)
        if path is None:
            raise HTTPException(404, "no such result (unknown id, or expired)")
        summ = results.get(rid, next((n for n in results.names(rid) if n.endswith("_summary.json")), ""))
        fs = float(json.loads(summ.read_text())["fs"]) if summ else None
        if fs is None or end <= start or end - start > MAX_SIGNAL_SECONDS:
            raise HTTPException(422, f"give 0 <= start < end, at most {MAX_SIGNAL_SECONDS:g} s apart")
        return signal_slice(path, fs, start, end)

    @app.get("/v1/results/{rid}/{name}", dependencies=auth)
    def result_file(rid: str, name: str):
        path = results.get(rid, name)  # a table look-up: the client's text never becomes a path
        if path is None:
            raise HTTPException(404, "no such result file (unknown id or name, or expired)")
        return FileResponse(path, filename=name)

    @app.get("/v1/demo/record", dependencies=auth)
    def demo():
        if "record" not in demo_cache:
            demo_cache["record"] = demo_record()
        return demo_cache["record"]
