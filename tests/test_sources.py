"""Where a recipe's data comes from: --data PATH / synthetic / auto, the keras cache, the verified download."""

import hashlib
import pathlib

import pytest

from keras_ecg.training import sources

pytestmark = pytest.mark.backend_free


def test_resolve_order(tmp_path, monkeypatch, offline):
    mitdb = tmp_path / "root" / "mitdb"
    mitdb.mkdir(parents=True)
    (mitdb / "100.hea").write_text("100 2 360 10\n")
    assert sources.resolve(str(tmp_path / "root"), "mitdb").path == mitdb
    assert sources.resolve(str(mitdb), "mitdb").path == mitdb
    assert sources.resolve("auto", "mitdb").synthetic
    monkeypatch.setenv(sources.DATA_ENV, str(tmp_path / "root"))
    assert sources.resolve("auto", "mitdb").path == mitdb
    assert sources.resolve("synthetic", "mitdb").synthetic
    monkeypatch.delenv(sources.DATA_ENV)
    cache = sources.keras_datasets_dir() / "mitdb"
    cache.mkdir(parents=True)
    (cache / "101.hea").write_text("101 2 360 10\n")
    res = sources.resolve("auto", "mitdb")
    assert res.path == cache and "cache" in res.how


def _fake_server(files):
    def fetch(url, dest, timeout=30.0):
        name = url.rsplit("/", 1)[1]
        if name not in files:
            raise OSError(f"404 {url}")
        pathlib.Path(dest).write_bytes(files[name])

    return fetch


def test_download_verifies_checksums(tmp_path, monkeypatch, offline):
    files = {"100.hea": b"100 2 360 10\r\n", "100.dat": b"\x00" * 30, "100.atr": b"\x01\x02"}
    sums = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    monkeypatch.setattr(sources, "fetch", _fake_server(files))
    dest = sources.download_mitdb(tmp_path / "mitdb", sums=sums, log=lambda m: None)
    assert sorted(p.name for p in dest.iterdir()) == ["100.atr", "100.dat", "100.hea", "RECORDS"]

    bad = dict(sums, **{"100.dat": "0" * 64})
    with pytest.raises(sources.DataError, match="SHA256 mismatch"):
        sources.download_mitdb(tmp_path / "mitdb2", sums=bad, log=lambda m: None)
    assert not (tmp_path / "mitdb2").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".mitdb-download")]


def test_auto_downloads_into_keras_cache(tmp_path, monkeypatch, offline):
    files = {"100.hea": b"100 2 360 10\r\n", "100.dat": b"\x00" * 30}
    sums = {n: hashlib.sha256(b).hexdigest() for n, b in files.items()}
    monkeypatch.delenv(sources.OFFLINE_ENV)
    monkeypatch.setattr(sources, "fetch", _fake_server(files))
    monkeypatch.setattr(sources, "read_sha256sums", lambda path=None: sums)
    res = sources.resolve("auto", "mitdb", log=lambda m: None)
    assert res.path == sources.keras_datasets_dir() / "mitdb" and "SHA256 verified" in res.how
    # a failing download falls back to synthetic data with the reason in the warning
    monkeypatch.setattr(sources, "fetch", _fake_server({}))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "other_home"))
    res = sources.resolve("auto", "mitdb", log=lambda m: None)
    assert res.synthetic and "download failed: 404" in res.warnings[0]


def test_shipped_checksums_cover_mitdb():
    sums = sources.read_sha256sums()
    assert len(sums) == 144 and sums["100.hea"].startswith("60ebc904")
