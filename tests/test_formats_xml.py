"""HL7 aECG and GE MUSE XML: read in mV at the file's rate, aECG written and read back, hostile XML refused.

Every file is made here (tests/format_builders.py, or aecg.write) from the formats'
structure with synthetic signals; the only identifiers are the made-up DOE^JANE's.
"""

import datetime
import time

import numpy as np
import pytest

import format_builders as fb
from keras_ecg.data import synthetic, wfdb_io
from keras_ecg.data.formats import _xml, aecg, muse
from keras_ecg.errors import DataError

pytestmark = pytest.mark.backend_free


TWELVE = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]


def _digits(n=1000, k=3, seed=0):
    return np.random.default_rng(seed).integers(-2000, 2000, size=(n, k))


def _write(tmp_path, name, text, encoding="utf-8"):
    p = tmp_path / name
    p.write_bytes(text.encode(encoding))
    return p


def _leaks(rec) -> str:
    """Everything a record carries, as text: what a report or log could reach."""
    return repr({k: (v if not isinstance(v, np.ndarray) else v.shape) for k, v in vars(rec).items()})


# ----------------------------------------------------------------------------- aECG


def test_aecg_reads_digits_times_scale_plus_origin_in_mv_at_the_increments_rate(tmp_path):
    d = _digits()
    codes = ["MDC_ECG_LEAD_I", "MDC_ECG_LEAD_AVR", "MDC_ECG_LEAD_V1"]
    p = _write(tmp_path, "ecg.xml", fb.aecg_text(dict(zip(codes, d.T)), step="2", step_unit="ms", scale="2.5",
                                                  origin="100", unit="uV"))
    rec = aecg.read(p)
    assert rec.fs == 500.0 and rec.leads == ["I", "aVR", "V1"] and rec.signal.dtype == np.float32
    np.testing.assert_allclose(rec.signal, (100 + 2.5 * d) / 1000, atol=1e-6)
    assert rec.start_time is None  # a relative time sequence has no start
    p2 = _write(tmp_path, "abs.xml", fb.aecg_text(dict(zip(codes, d.T)), time_code="TIME_ABSOLUTE", scale="0.001",
                                                   unit="mV", step=repr(1 / 360)))
    rec2 = aecg.read(p2)
    assert rec2.fs == 360.0 and rec2.start_time == "2024-01-02T03:04:05.500000"
    np.testing.assert_allclose(rec2.signal, d / 1000, atol=1e-6)


def test_aecg_write_then_read_gives_the_samples_within_the_quantisation(tmp_path):
    x, _, _ = synthetic.record(duration_s=10, fs=500, seed=3)
    sig = np.stack([x * (0.3 + 0.1 * i) for i in range(12)], axis=1).astype(np.float32)
    rec = wfdb_io.Record("page", sig, 500.0, TWELVE)
    for res in (1.0, 4.88):
        p = aecg.write(tmp_path / f"page_{res}.xml", rec, resolution_uv=res,
                       start_time=datetime.datetime(2024, 5, 6, 7, 8, 9))
        back = aecg.read(p)
        assert back.fs == 500.0 and back.leads == TWELVE and back.signal.shape == sig.shape
        assert back.start_time == "2024-05-06T07:08:09"
        err = np.abs(back.signal - sig)
        assert err.max() <= res / 2 * 1e-3 + 1e-6 and err.max() > res / 20 * 1e-3  # quantised, not exact
        assert aecg.sniff(p.read_bytes()[:4096])
    assert sorted(q.name for q in tmp_path.iterdir()) == ["page_1.0.xml", "page_4.88.xml"]  # no temporary left


@pytest.mark.parametrize("fs", [250.0, 360.0, 1000.0])
def test_aecg_writes_a_3x4_page_as_four_sequence_sets_and_reads_it_back_in_place(tmp_path, fs):
    """A 3x4 page prints each column of three leads for 2.5 s: NaN elsewhere, kept NaN through the file."""
    n = int(10 * fs)
    x, _, _ = synthetic.record(duration_s=10, fs=fs, seed=4)
    sig = np.full((n, 12), np.nan, dtype=np.float32)
    q = n // 4
    for j in range(12):
        col = j // 3
        sig[col * q:(col + 1) * q, j] = x[col * q:(col + 1) * q] * (0.5 + 0.05 * j)
    sig[q + 10:q + 20, 4] = np.nan  # a gap inside a printed span: filled linearly
    p = aecg.write(tmp_path / "page.xml", wfdb_io.Record("page", sig, fs, TWELVE))
    assert p.read_text().count("<sequenceSet>") == 4
    back = aecg.read(p)
    assert back.fs == fs and back.leads == TWELVE and back.signal.shape == (n, 12)
    printed = ~np.isnan(sig)
    printed[q + 10:q + 20, 4] = True
    assert np.array_equal(~np.isnan(back.signal), printed)  # every lead in its own 2.5 s, NaN elsewhere
    ok = ~np.isnan(sig)
    assert np.abs(back.signal[ok] - sig[ok]).max() <= 0.5e-3 + 1e-6
    gap = back.signal[q + 10:q + 20, 4]
    lo, hi = sorted([sig[q + 9, 4], sig[q + 20, 4]])
    assert np.all((gap >= lo - 1e-3) & (gap <= hi + 1e-3))  # between its neighbours


def test_aecg_reads_identifiers_only_when_asked(tmp_path):
    p = _write(tmp_path, "ecg.xml", fb.aecg_text({"MDC_ECG_LEAD_II": _digits(k=1)[:, 0]}))
    rec = aecg.read(p)
    assert rec.identifiers is None
    assert "DOE" not in _leaks(rec) and fb.PATIENT_ID not in _leaks(rec) and "1951" not in _leaks(rec)
    ids = aecg.read(p, identifiers=True).identifiers
    assert ids == {"name": fb.NAME, "id": fb.PATIENT_ID, "sex": "F", "birth_date": "1951-03-17T00:00:00"}


@pytest.mark.parametrize("change, message", [
    (dict(step="0"), "not positive"),
    (dict(step="0.5"), "outside the range"),  # 2 Hz
    (dict(step="abc"), "not a number"),
    (dict(step_unit="h"), "unit"),
    (dict(unit="mmHg"), "not a voltage unit"),
    (dict(scale="nan"), "not finite"),
])
def test_aecg_refuses_a_bad_rate_or_unit_in_one_line(tmp_path, change, message):
    p = _write(tmp_path, "bad.xml", fb.aecg_text({"MDC_ECG_LEAD_I": _digits(k=1)[:, 0]}, **change))
    with pytest.raises(DataError, match=message) as e:
        aecg.read(p)
    assert str(p) in str(e.value) and "\n" not in str(e.value)


def test_aecg_refuses_leads_of_different_lengths_missing_time_and_truncation(tmp_path):
    d = _digits(k=2)
    p = _write(tmp_path, "len.xml", fb.aecg_text({"MDC_ECG_LEAD_I": d[:, 0], "MDC_ECG_LEAD_II": d[:-5, 1]}))
    with pytest.raises(DataError, match=r"differ in length \(I 1000, II 995"):
        aecg.read(p)
    text = fb.aecg_text({"MDC_ECG_LEAD_I": d[:, 0]})
    p = _write(tmp_path, "notime.xml", fb.aecg_text({"MDC_ECG_LEAD_I": d[:, 0]}, time_code=None))
    with pytest.raises(DataError, match="no time sequence"):
        aecg.read(p)
    p = _write(tmp_path, "cut.xml", text[: len(text) // 2])
    with pytest.raises(DataError, match="not well-formed XML") as e:
        aecg.read(p)
    assert str(p) in str(e.value)
    p = _write(tmp_path, "dup.xml", fb.aecg_text({"MDC_ECG_LEAD_I": d[:, 0]}).replace(
        "</sequenceSet></component>\n    <derivation>",
        '<component><sequence><code code="MDC_ECG_LEAD_I"/><value><scale value="1" unit="uV"/><digits>1 2</digits>'
        "</value></sequence></component></sequenceSet></component>\n    <derivation>"))
    with pytest.raises(DataError, match="appears twice"):
        aecg.read(p)


# ----------------------------------------------------------------------------- MUSE


def _eight(n=5000, seed=1):
    x = np.random.default_rng(seed).integers(-3000, 3000, size=(n, 8)).astype(np.int16)
    return dict(zip(["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"], x.T))


def test_muse_reads_the_rhythm_in_mv_and_derives_the_four_limb_leads(tmp_path):
    leads = _eight()
    median = {k: v[:600] for k, v in _eight(seed=2).items()}
    p = _write(tmp_path, "muse.xml", fb.muse_text(fb.muse_waveform("Median", median),
                                                  fb.muse_waveform("Rhythm", leads, base="25", exponent="1")),
               encoding="latin-1")
    assert muse.sniff(p.read_bytes()[:4096]) and not aecg.sniff(p.read_bytes()[:4096])
    rec = muse.read(p)
    assert rec.fs == 250.0 and rec.leads == TWELVE and rec.signal.shape == (5000, 12)
    assert rec.derived_leads == ["III", "aVR", "aVL", "aVF"]
    mv = {k: v * 4.88e-3 for k, v in leads.items()}
    for name in ("I", "II", "V1", "V6"):
        np.testing.assert_allclose(rec.lead(name), mv[name], rtol=1e-6, atol=1e-6)
    i, ii = mv["I"], mv["II"]
    for name, want in (("III", ii - i), ("aVR", -(i + ii) / 2), ("aVL", i - ii / 2), ("aVF", ii - i / 2)):
        np.testing.assert_allclose(rec.lead(name), want, rtol=1e-5, atol=1e-5)
    assert rec.start_time == "2024-01-02T03:04:05"
    med = muse.read(p, waveform="Median")
    assert med.signal.shape == (600, 12) and med.fs == 500.0


def test_muse_keeps_stored_limb_leads_and_reads_identifiers_only_when_asked(tmp_path):
    leads = _eight()
    leads["III"] = np.full(5000, 7, dtype=np.int16)  # stored, even if inconsistent: never replaced
    p = _write(tmp_path, "muse.xml", fb.muse_text(fb.muse_waveform("Rhythm", leads)))
    rec = muse.read(p)
    assert rec.derived_leads == ["aVR", "aVL", "aVF"] and np.allclose(rec.lead("III"), 7 * 4.88e-3)
    assert "DOE" not in _leaks(rec) and "JANE" not in _leaks(rec) and fb.PATIENT_ID not in _leaks(rec)
    ids = muse.read(p, identifiers=True).identifiers
    assert ids["last_name"] == "DOE" and ids["first_name"] == "JANE" and ids["id"] == fb.PATIENT_ID


@pytest.mark.parametrize("waveform, message", [
    (lambda L: fb.muse_waveform("Rhythm", L, base="0"), "not a positive"),
    (lambda L: fb.muse_waveform("Rhythm", L, base="5", exponent="5"), "outside the range"),
    (lambda L: fb.muse_waveform("Rhythm", L, base="x"), "not a sampling rate"),
    (lambda L: fb.muse_waveform("Rhythm", L, crc=True).replace("<LeadDataCRC32>", "<LeadDataCRC32>1"), "CRC-32"),
    (lambda L: fb.muse_waveform("Rhythm", L, count=4000), "LeadSampleCountTotal"),
    (lambda L: fb.muse_waveform("Rhythm", L, units="MILLIMETERS"), "not a voltage"),
    (lambda L: fb.muse_waveform("Rhythm", L).replace("<NumberofLeads>8", "<NumberofLeads>12"), "NumberofLeads 12"),
    (lambda L: fb.muse_waveform("Rhythm", dict(L, V6=L["V6"][:-1])), "differ in length"),
    (lambda L: fb.muse_waveform("Median", L), "no Rhythm waveform \\(it holds Median\\)"),
    (lambda L: fb.muse_waveform("Rhythm", L).replace("<WaveFormData>", "<WaveFormData>*"), "not base64"),
])
def test_muse_refuses_bad_files_in_one_line(tmp_path, waveform, message):
    p = _write(tmp_path, "bad.xml", fb.muse_text(waveform(_eight(n=500))))
    with pytest.raises(DataError, match=message) as e:
        muse.read(p)
    assert str(e.value).startswith(str(p)) and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- hostile XML and detection


@pytest.mark.parametrize("module, root, ns", [(aecg, "AnnotatedECG", ' xmlns="urn:hl7-org:v3"'),
                                              (muse, "RestingECG", "")])
def test_entity_bombs_and_external_entities_are_refused_in_one_line(tmp_path, module, root, ns):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    files = {"bomb.xml": fb.bomb(root, ns), "file.xml": fb.external_entity(secret.as_uri(), root, ns),
             "http.xml": fb.external_entity("http://127.0.0.1:9/x", root, ns)}
    for name, text in files.items():
        p = _write(tmp_path, name, text)
        assert module.sniff(p.read_bytes()[:4096])  # recognised, then refused when parsed
        t = time.perf_counter()
        with pytest.raises(DataError, match="refused") as e:
            module.read(p)
        assert time.perf_counter() - t < 2.0
        msg = str(e.value)
        assert msg.startswith(f"{p}: refused") and "\n" not in msg and "TOP-SECRET" not in msg


def test_root_sniffing_needs_the_element_and_its_namespace():
    good = fb.aecg_text({"MDC_ECG_LEAD_I": [1, 2, 3]}).encode()
    assert _xml.root(good[:4096]) == ("AnnotatedECG", "urn:hl7-org:v3")
    prefixed = b'<?xml version="1.0"?><!-- c --><h:AnnotatedECG xmlns:h="urn:hl7-org:v3">'
    assert aecg.sniff(prefixed) and aecg.sniff(good.decode().encode("utf-16"))
    assert not aecg.sniff(b'<AnnotatedECG xmlns="urn:other">') and not aecg.sniff(b"<AnnotatedECG>")
    assert not muse.sniff(b'<RestingECG xmlns="urn:hl7-org:v3">') and not muse.sniff(b"ISHNE1.0")
    assert not aecg.sniff(b"\x00" * 200) and not muse.sniff(b"")
    assert muse.sniff(fb.muse_text().encode("latin-1")[:4096])


def test_a_file_of_another_root_is_refused_by_name_of_its_root(tmp_path):
    p = _write(tmp_path, "muse_as_aecg.xml", fb.muse_text(fb.muse_waveform("Rhythm", _eight(n=100))))
    with pytest.raises(DataError, match="not an HL7 aECG document \\(root element 'RestingECG'\\)"):
        aecg.read(p)
    q = _write(tmp_path, "aecg_as_muse.xml", fb.aecg_text({"MDC_ECG_LEAD_I": [1, 2, 3]}))
    with pytest.raises(DataError, match="not a GE MUSE XML file"):
        muse.read(q)


def test_digitize_format_aecg_writes_the_pages_12_leads_as_the_wfdb_record_holds_them(tmp_path):
    import wfdb
    from PIL import Image

    from keras_ecg import cli
    from keras_ecg.data.images import synthetic_pages

    page = tmp_path / "DOE_JANE.png"  # a file name that names a person: it must not reach the aECG file
    Image.fromarray(synthetic_pages.render_page("normal", seed=5, layout="3x4+1")).save(page)
    out = tmp_path / "out"
    assert cli.main(["digitize", str(page), "--out", str(out), "--format", "aecg"]) == 0
    xml = out / "DOE_JANE.xml"
    ref = wfdb.rdrecord(str(out / "DOE_JANE"))
    back = aecg.read(xml)
    assert back.leads == TWELVE == ref.sig_name[:12] and back.fs == ref.fs
    want = ref.p_signal[:, :12]
    assert back.signal.shape == want.shape
    ok = np.isfinite(want)
    assert np.abs(back.signal[ok] - want[ok]).max() <= 0.5e-3 + 1e-4  # WFDB's own quantisation besides
    assert xml.read_text().count("<sequenceSet>") >= 4  # the columns of a 3x4 page, each in its span
    assert "DOE" not in xml.read_text() and "JANE" not in xml.read_text()
    with pytest.raises(SystemExit, match="unknown format 'scp'"):
        cli.main(["digitize", str(page), "--out", str(tmp_path / "o2"), "--format", "aecg,scp"])


def test_aecg_sequence_sets_must_share_their_interval_and_kind_of_time(tmp_path):
    sig = np.full((1000, 2), np.nan, dtype=np.float32)
    sig[:500, 0] = 0.1
    sig[500:, 1] = -0.2
    p = aecg.write(tmp_path / "two.xml", wfdb_io.Record("two", sig, 500.0, ["I", "II"]))
    text = p.read_text()
    assert text.count("<sequenceSet>") == 2 and np.array_equal(np.isnan(aecg.read(p).signal), np.isnan(sig))
    i = text.rindex('<increment value="0.002"')
    p.write_text(text[:i] + '<increment value="0.004"' + text[i + len('<increment value="0.002"'):])
    with pytest.raises(DataError, match="different sampling intervals"):
        aecg.read(p)
    i = text.rindex('xsi:type="GLIST_TS"><head value="')
    head = text[i:].split('"')[3]
    p.write_text(text.replace(f'xsi:type="GLIST_TS"><head value="{head}"', 'xsi:type="GLIST_PQ"><head value="1"'))
    with pytest.raises(DataError, match="mix absolute and relative"):
        aecg.read(p)
    p.write_text(text.replace(head, "29990101000000.000000"))  # a set a thousand years on
    with pytest.raises(DataError, match="wrong head"):
        aecg.read(p)
