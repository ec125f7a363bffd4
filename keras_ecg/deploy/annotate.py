"""Annotate whole records: detect R peaks, classify every beat, write WFDB annotations, a CSV, a summary, a strip chart.

    keras-ecg annotate pretrained:mitbih_beats data/mitdb/100 --out annotated/
    keras-ecg annotate MODEL holter.edf recording.csv --fs 250 --out annotated/

For a record ``NAME`` the output folder gets (every file written atomically; the command locks the
folder, stages the files of all its records and moves them in at the end, and refuses two records of
one name: :mod:`keras_ecg.deploy.output_folder`):

* ``NAME.hea`` and ``NAME.ann``: a copy of the record's header (for a CSV or EDF input, a WFDB
  copy of the recording: ``NAME.hea`` + ``NAME.dat``) and the annotations: the beats, their classes
  written as MIT-BIH symbols (:data:`keras_ecg.data.synthetic_wfdb.SYMBOLS`: N, S, V, F, Q as
  N, A, V, F, Q), the rhythm changes (``+`` with ``(AFIB``, ``(N``, ...) and the pauses (``"``
  comments) of :mod:`keras_ecg.deploy.rhythm_files`: ``wfdb.rdann("OUT/NAME", "ann")`` reads them;
* ``NAME_beats.csv``: one row per beat: time, sample, class, symbol, the class probabilities
  (calibrated by the card's ``calibration``), ``uncertain`` (1: confidence below the card's threshold);
* ``NAME_episodes.csv``: one row per rhythm episode (AF, flutter, pauses, rate, runs, bigeminy, trigeminy);
* ``NAME_summary.json`` and ``NAME_summary.txt`` (:mod:`keras_ecg.deploy.summary`): AF burden first;
* ``NAME_strip.png`` (:mod:`keras_ecg.deploy.strip_chart`), episodes shaded;
* with ``formats`` (``--format wfdb,edf,dicom``), the same annotations beside the WFDB ones:
  ``NAME_annotations.edf``, an EDF+ file of the recording with the annotations as EDF+ annotations,
  and ``NAME_annotations.dcm``, a DICOM ECG waveform object of the recording with them as its
  ``WaveformAnnotationSequence`` (:mod:`keras_ecg.data.formats.edf_plus`, :mod:`~keras_ecg.data.formats.dicom`):
  each beat as its MIT-BIH symbol at its sample, each rhythm change as its label (``(AFIB``, ...), each
  pause as ``PAUSE 2.4s``. These files hold the signal: the recording is read whole to write them.

No patient identifier of the input file's header (DICOM patient module, EDF patient field) reaches
any of these files unless ``identifiers`` (``--keep-identifiers``) asks for them: then the EDF+ and
DICOM files carry them, and only they.

The rhythm (:func:`with_rhythm`, once per record: :func:`keras_ecg.rhythm.analyze` with the card's
``rhythm`` settings, :mod:`keras_ecg.deploy.record_rhythm`) gives the episodes and the rhythm-aware
beat classes: the files above show those (with the card's ``af_rule``, beats inside AF are not called S).

The beats are the toolkit's own R-peak detections on the card's first lead (never the
reference annotations), cut by :func:`keras_ecg.data.beats.beat_inputs` with the model
card's preprocessing, the code training and predict use. Detections whose window runs
past the record's edge are not classified; their count is in the summary.
"""

from __future__ import annotations

import dataclasses
import io
import pathlib
import shutil
import tempfile
import time

import numpy as np

from keras_ecg import _atomic
from keras_ecg.data import signal as S
from keras_ecg.data import synthetic_wfdb
from keras_ecg.deploy import record_rhythm, rhythm_files, strip_chart, summary
from keras_ecg.deploy.output_folder import safe_name
from keras_ecg.evaluation.calibration import calibrated
from keras_ecg.errors import DataError

ANN_EXT = "ann"
# --format NAME -> (format module of keras_ecg.data.formats, the file NAME_annotations + suffix); wfdb is always written
WRITERS = {"edf": ("edf_plus", ".edf"), "dicom": ("dicom", ".dcm")}
FORMATS = ("wfdb", *WRITERS)


@dataclasses.dataclass
class Annotation:
    record: object  # keras_ecg.data.wfdb_io.Record
    lead: str  # the lead R peaks were detected on (and the strip chart shows)
    samples: np.ndarray  # R-peak sample of each classified beat, at the record's rate
    probs: np.ndarray  # (beats, K) class probabilities, or (beats, 1) risk
    classes: list  # class name of each beat
    edge_skipped: int  # detections too close to the edges to classify
    seconds: dict  # time per stage
    uncertain: np.ndarray | None = None  # per beat: calibrated confidence below the card's threshold
    episodes: list | None = None  # rhythm episodes (keras_ecg.rhythm.Episode); None: rhythm not analysed yet
    in_af: np.ndarray | None = None  # per beat: inside an AF episode
    relabelled: int = 0  # beats whose class the card's AF rule changed
    quality: object = None  # keras_ecg.data.quality.Quality of the detection lead
    unreadable_beats: int = 0  # detections in unreadable segments, not classified

    @property
    def times_s(self) -> np.ndarray:
        return self.samples / self.record.fs


def output_name(path) -> str:
    """``NAME`` of the files :func:`write` gives the recording at ``path``: its record name, made a name every
    output file (and a WFDB record) can take (:func:`keras_ecg.deploy.output_folder.safe_name`)."""
    p = pathlib.Path(path)
    return safe_name(p.stem if p.is_file() or p.suffix.lower() in (".csv", ".hea", ".dat", ".atr") else p.name)


def check_beat_model(card, where) -> None:
    """A model annotate (and the live stream) can use: a beat classifier, else a one-line :class:`DataError`."""
    if card.input_kind != "waveform" or card.preprocessing.format != "wfdb":
        raise DataError(f"{where}: annotate needs a beat classifier (waveform input cut around R peaks); "
                        f"this model takes {card.input_kind} input")


def beat_classes(outputs, card) -> tuple:
    """``(probs, classes, uncertain)`` of the model's ``outputs`` for some beats: the probabilities calibrated by
    the card, each beat's class, and its uncertainty flag (None without the card's threshold)."""
    probs, unsure = calibrated(outputs, card.calibration)
    return probs, _classes(probs, card), unsure


def _classes(probs, card):
    names = list(card.class_names)
    if probs.shape[1] == 1:
        return [names[int(p >= 0.5)] for p in probs[:, 0]]
    return [names[k] for k in probs.argmax(axis=1)]


def annotate(classifier, path, fs: float | None = None, chunk_s: float | None = 1800.0, spans=None) -> Annotation:
    """Detect and classify every beat of the recording at ``path`` with ``classifier`` (:mod:`runtime`).

    The recording is read and processed ``chunk_s`` seconds at a time, in memory bounded by the
    chunk (:mod:`keras_ecg.deploy.beat_stream`; the same beats as in one piece); ``a.record`` is then
    a :class:`~keras_ecg.data.record_file.RecordFile`, whose ``signal`` is read when first used
    (``n_samples`` and ``read(start, stop, leads)`` read nothing or a range). ``chunk_s=None``: the
    whole recording in memory, in one piece (``a.record`` a :class:`~keras_ecg.data.wfdb_io.Record`).
    ``spans``: the strip-chart spans :func:`write` will be asked for, checked against the record
    (:func:`keras_ecg.deploy.strip_chart.check_spans`) as soon as its header is read, before any beat is
    classified, so a bad span fails in one line at once.
    """
    from keras_ecg.deploy import beat_stream

    card = classifier.card
    check_beat_model(card, classifier.path)

    def check(rec):
        if spans:
            strip_chart.check_spans(spans, _n_samples(rec) / rec.fs, rec.path or str(path))

    if chunk_s is None:
        b = beat_stream.classify_whole(classifier, path, fs, on_open=check)
    else:
        b = beat_stream.classify_record(classifier, path, fs, chunk_s, on_open=check)
    probs, classes, unsure = beat_classes(b.outputs, card)
    return Annotation(b.record, b.lead, b.samples, probs, classes, b.edge_skipped, b.seconds, unsure,
                      quality=b.quality, unreadable_beats=b.unreadable_beats)


def with_rhythm(a: Annotation, card) -> Annotation:
    """``a`` with its rhythm: episodes, ``in_af``, and the rhythm-aware probabilities, classes and flags.

    Runs :func:`keras_ecg.rhythm.analyze` once; an annotation that has its rhythm is returned as it is.
    """
    if a.episodes is not None:
        return a
    t0 = time.perf_counter()
    r, unsure = record_rhythm.analyze(a.times_s, a.probs, card, a.uncertain)
    seconds = {**a.seconds, "rhythm": round(time.perf_counter() - t0, 4)}
    episodes = list(r.episodes)
    if a.quality is not None and a.quality.spans():  # no pause or slow rate made of an unreadable stretch
        gaps = [(s0, s1) for s0, s1, _ in a.quality.spans()]
        episodes = [e for e in episodes if e.kind not in ("PAUSE", "BRADY")
                    or not any(e.start_s < s1 and e.end_s > s0 for s0, s1 in gaps)]
    return dataclasses.replace(a, probs=r.probs, classes=list(r.classes), uncertain=unsure, seconds=seconds,
                               episodes=episodes, in_af=np.asarray(r.in_af, dtype=bool),
                               relabelled=int(r.relabelled))


def _beats_csv(a: Annotation, card) -> str:
    names = list(card.class_names)
    cols = ["risk"] if a.probs.shape[1] == 1 else [f"p_{n}" for n in names]
    buf = io.StringIO()
    buf.write(",".join(["time_s", "sample", "class", "symbol", *cols, "uncertain"]) + "\n")
    for s, c, p, u in zip(a.samples, a.classes, a.probs, _flags(a)):
        vals = ",".join(f"{v:.5f}" for v in p)
        buf.write(f"{s / a.record.fs:.3f},{int(s)},{c},{synthetic_wfdb.SYMBOLS.get(c, 'Q')},{vals},{int(u)}\n")
    return buf.getvalue()


def _flags(a: Annotation) -> np.ndarray:
    return np.zeros(len(a.classes), dtype=bool) if a.uncertain is None else np.asarray(a.uncertain, dtype=bool)


def _wfdb_files(a: Annotation, tmp: pathlib.Path) -> dict:
    """The header (copied, or a WFDB copy of a CSV/EDF recording) and the annotation file, in ``tmp``."""
    rec, name = a.record, safe_name(a.record.name)
    symbols = [synthetic_wfdb.SYMBOLS.get(c, "Q") for c in a.classes]
    hea = pathlib.Path(f"{rec.path}.hea") if rec.path else None  # a WFDB record's path has no extension
    if hea is not None and hea.is_file():
        shutil.copyfile(hea, tmp / f"{name}.hea")
        files = {"hea": tmp / f"{name}.hea"}
    else:
        files = synthetic_wfdb.wfdb_files(name, rec.signal, rec.fs, rec.leads, write_dir=tmp,
                                          comments=[f"keras_ecg annotate: WFDB copy of {rec.path}"])
    files.update(rhythm_files.write_wfdb(name, rec.fs, a.samples, symbols, a.classes, a.episodes or [],
                                         ANN_EXT, tmp))
    return files


def _n_samples(rec) -> int:
    return int(getattr(rec, "n_samples", None) or len(rec.signal))


def _span_signal(rec, lead: int, spans, margin_s: float = 5.0) -> np.ndarray:
    """The band-passed lead for the strip chart: only the spans (with margins) are read and filtered; the rest
    stays zeros that were never written (so never in memory) in a record of any length."""
    n, fs = _n_samples(rec), rec.fs
    x = np.zeros(n, dtype=np.float32)
    for start, end, _ in spans:
        i0, i1 = max(int((start - margin_s) * fs), 0), min(int((end + margin_s) * fs) + 1, n)
        if i1 <= i0:
            continue
        seg = rec.read(i0, i1, [lead])[:, 0] if hasattr(rec, "read") else rec.signal[i0:i1, lead]
        x[i0:i1] = S.bandpass(seg, fs) if len(seg) > 3 * fs else seg - np.median(seg)
    return x


def _format_files(a: Annotation, out: pathlib.Path, name: str, formats, identifiers: bool) -> dict:
    """The EDF+ and DICOM annotation files of ``formats`` (see the module doc); ``{kind: path}``. The recording
    is read whole once more, with its start time and (``identifiers``) its patient fields."""
    from keras_ecg.data import formats as F
    from keras_ecg.data import signal_files

    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        raise DataError(f"--format {','.join(unknown)}: annotate writes {', '.join(FORMATS)}")
    wanted = [f for f in formats if f in WRITERS]
    if not wanted:
        return {}
    rec = a.record
    symbols = [synthetic_wfdb.SYMBOLS.get(c, "Q") for c in a.classes]
    sample, symbol, aux = rhythm_files.annotations(a.samples, symbols, rec.fs, a.classes, a.episodes or [])
    rows = [(int(s), x or y) for s, y, x in zip(sample, symbol, aux)]
    full = signal_files.read(rec.path, fs=rec.fs, annotations=None, identifiers=identifiers)
    paths = {}
    for f in wanted:
        module, suffix = WRITERS[f]
        extra = {"annotation_channel": full.leads.index(a.lead)} if f == "dicom" else {}
        paths[f"{f}_annotations"] = F.module(module).write(out / f"{name}_annotations{suffix}", full,
                                                            annotations=rows, identifiers=full.identifiers, **extra)
    return paths


def write(a: Annotation, card, out, spans=None, title: str = "", formats=("wfdb",),
          identifiers: bool = False) -> dict:
    """Write the annotation files of ``a`` into the folder ``out``; ``{kind: path}``.

    ``a`` without its rhythm gets it here (:func:`with_rhythm`). ``formats``: ``wfdb`` (always written),
    ``edf``, ``dicom``; ``identifiers``: copy the input file's patient fields into the EDF+ and DICOM
    files (see the module doc).
    """
    a = with_rhythm(a, card)
    out = pathlib.Path(out)
    name = safe_name(a.record.name)
    duration = _n_samples(a.record) / a.record.fs
    if spans:
        strip_chart.check_spans(spans, duration, a.record.path or a.record.name)
    out.mkdir(parents=True, exist_ok=True)
    summ = summary.summarize(a.times_s, a.classes, duration, list(card.class_names), episodes=a.episodes,
                             in_af=a.in_af, relabelled=a.relabelled)
    summ.update({"record": str(a.record.path), "lead": a.lead, "fs": a.record.fs,
                 "edge_beats_not_classified": a.edge_skipped, "seconds": a.seconds,
                 "uncertain_beats": int(_flags(a).sum()), "rhythm_config": record_rhythm.config(card).to_card(),
                 "signal_quality": a.quality.to_dict() if a.quality is not None else None,
                 "beats_in_unreadable_segments": a.unreadable_beats,
                 "uncertain_below": card.calibration.uncertain_below if card.calibration else None})
    with tempfile.TemporaryDirectory(prefix=f".{name}-", dir=out) as tmp:
        written = synthetic_wfdb.write_files(out / name, _wfdb_files(a, pathlib.Path(tmp)))
    paths = {"header": out / f"{name}.hea", "annotations": out / f"{name}.{ANN_EXT}",
             "beats_csv": out / f"{name}_beats.csv", "episodes_csv": out / f"{name}_episodes.csv",
             "summary_json": out / f"{name}_summary.json",
             "summary_txt": out / f"{name}_summary.txt", "strip_chart": out / f"{name}_strip.png"}
    if out / f"{name}.dat" in written:
        paths["signal"] = out / f"{name}.dat"
    paths.update(_format_files(a, out, name, formats, identifiers))
    _atomic.write_text(paths["beats_csv"], _beats_csv(a, card))
    _atomic.write_text(paths["episodes_csv"], rhythm_files.episodes_csv(a.episodes))
    _atomic.write_json(paths["summary_json"], summ)
    _atomic.write_text(paths["summary_txt"], summary.text(summ, title or f"{name} ({a.record.path})"))
    bad = a.quality.spans() if a.quality is not None else []
    spans = spans or strip_chart.default_spans(a.times_s, a.classes, duration, a.episodes, bad)
    x = _span_signal(a.record, a.record.leads.index(a.lead), spans)
    strip_chart.draw(paths["strip_chart"], x, a.record.fs, a.times_s, a.classes, spans,
                     title=title or f"{name}: {a.lead}, {len(a.classes)} beats", uncertain=_flags(a),
                     episodes=a.episodes, unreadable=bad,
                     analysable_fraction=a.quality.analysable_fraction if a.quality is not None else None)
    return paths
