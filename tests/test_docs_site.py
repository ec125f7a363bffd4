"""The documentation site's generators (docsgen/): results tables read at build time, a missing results file
fails the build, the command-line reference holds every subcommand, and every example block is marked
correctly. The site itself is built by `make docs` (mkdocs build --strict), once per `make test`."""

import json
import pathlib

import pytest

from docsgen import cli_reference, examples, results

pytestmark = pytest.mark.backend_free


mkdocs_exceptions = pytest.importorskip("mkdocs.exceptions", reason="the docs extra is not installed")

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _hooks():
    import importlib.util

    spec = importlib.util.spec_from_file_location("docsgen_hooks", ROOT / "docsgen" / "hooks.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_page_naming_a_missing_results_file_fails_the_build():
    hooks = _hooks()
    with pytest.raises(mkdocs_exceptions.PluginError, match="guide/x.md: .*no_such_results.md is missing"):
        hooks.expand("text\n<!-- results-md: no_such_results.md -->\nmore", "guide/x.md")
    with pytest.raises(mkdocs_exceptions.PluginError, match="no results table named 'nope'"):
        hooks.expand("<!-- results-table: nope -->", "guide/x.md")


def test_included_results_are_the_files_own_text_with_headings_moved_down():
    hooks = _hooks()
    src = (results.RESULTS / "rhythm_mitbih.md").read_text()
    out = hooks.expand("# Page\n\n<!-- results-md: rhythm_mitbih.md -->\n", "p.md")
    assert "<!--" not in out
    first_table_row = next(line for line in src.splitlines() if line.startswith("| DS2"))
    assert first_table_row in out
    assert "\n## Rhythm on MIT-BIH" in out and "\n### AF episodes" in out


def test_a_table_rendered_from_json_follows_the_file(tmp_path, monkeypatch):
    data = json.loads((results.RESULTS / "rpeak_accuracy.json").read_text())
    data["sensitivity"] = 0.5
    (tmp_path / "rpeak_accuracy.json").write_text(json.dumps(data))
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    assert "| all 48 records | 0.5000 |" in results.render("rpeak_accuracy")
    (tmp_path / "rpeak_accuracy.json").unlink()
    with pytest.raises(results.ResultsError, match="rpeak_accuracy.json is missing"):
        results.render("rpeak_accuracy")


def test_every_renderer_reads_the_committed_results():
    for name in results.RENDERERS:
        table = results.render(name)
        assert table.count("\n|") >= 2, name


def test_the_cli_reference_holds_every_subcommand_and_its_flags():
    text = cli_reference.reference_markdown()
    for name in cli_reference.commands():
        assert f"## `keras-ecg {name}`" in text
    assert "--fs" in text and "--span" in text and "--epochs" in text  # annotate's flags, RunConfig's
    assert "--version" in text


def test_example_markers_are_checked(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("<!-- example: not-run -->\n```bash\nls\n```\n")
    with pytest.raises(examples.ExampleError, match="needs a reason"):
        examples.extract(page)
    page.write_text("<!-- example: sometimes -->\n```bash\nls\n```\n")
    with pytest.raises(examples.ExampleError, match="unknown example marker"):
        examples.extract(page)
    page.write_text("text\n\n<!-- example: needs-data -->\n```python\nprint(1)\n```\n\n```text\nout\n```\n")
    (ex,) = examples.extract(page)
    assert (ex.lang, ex.marker, ex.code, ex.line) == ("python", "needs-data", "print(1)\n", 4)


def test_every_docs_page_parses_and_every_example_is_runnable_or_marked():
    found = examples.all_examples()
    assert len(found) >= 15
    assert {e.path for e in found} >= {"README.md", "docs/guide/annotate.md", "docs/guide/formats.md"}


def test_every_relative_link_of_the_readme_exists():
    """The README is not part of the site, so mkdocs does not check its links: this does."""
    import re

    text = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 15
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing
