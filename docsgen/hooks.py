"""MkDocs hook (``mkdocs.yml``: ``hooks: [docsgen/hooks.py]``): what the site generates at build time.

- Every ``benchmarks/results/*.md`` becomes a page ``results/<name>.md`` (and ``results/index.md`` lists
  every results file); the results PNGs are copied to ``results/``.
- A page may hold, each alone on a line:
  ``<!-- results-md: NAME.md -->`` (a results Markdown file, included),
  ``<!-- results-table: NAME -->`` (a table rendered from results JSON or the model cards, ``docsgen.results``),
  ``<!-- cli-reference -->`` (every subcommand's ``--help``) and
  ``<!-- include: PATH -->`` (a file of the repository, e.g. ``CHANGELOG.md``).
  A file or table that does not exist fails the build (``PluginError``), as strict mode fails on warnings.
"""

from __future__ import annotations

import pathlib
import re
import sys

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the hook is loaded by path; docsgen and keras_ecg come from this checkout
    sys.path.insert(0, str(ROOT))

from docsgen import cli_reference, results  # noqa: E402

DIRECTIVE = re.compile(r"(?m)^<!-- (results-md|results-table|cli-reference|include)(?::\s*(\S+))? -->$")


def _results_index() -> str:
    lines = ["# Results files", "",
             "Every file under `benchmarks/results/`, written by the scripts in `benchmarks/`. The Markdown "
             "ones are shown here as they are; the JSON ones feed the tables of the guide pages.", ""]
    for p in sorted(results.RESULTS.iterdir()):
        if p.suffix == ".md":
            lines.append(f"- [{p.name}]({p.stem}.md)")
        elif p.suffix in (".json", ".png"):
            lines.append(f"- `{p.name}`")
    return "\n".join(lines) + "\n"


def on_files(files, config):
    for p in sorted(results.RESULTS.glob("*.md")):
        files.append(File.generated(config, f"results/{p.name}", content=results.include_markdown(p.name, 1)))
    for p in sorted(results.RESULTS.glob("*.png")):
        files.append(File.generated(config, f"results/{p.name}", abs_src_path=str(p)))
    files.append(File.generated(config, "results/index.md", content=_results_index()))
    return files


def expand(markdown: str, where: str) -> str:
    """The page with every directive replaced by what it generates; ``PluginError`` naming the page else."""

    def one(m):
        kind, arg = m.group(1), m.group(2)
        try:
            if kind == "results-md":
                return results.include_markdown(arg)
            if kind == "results-table":
                return results.render(arg)
            if kind == "cli-reference":
                return cli_reference.reference_markdown()
            path = ROOT / arg
            if not path.is_file():
                raise results.ResultsError(f"{arg} is missing")
            return path.read_text()
        except (results.ResultsError, cli_reference.CommandHelpError, TypeError) as e:
            raise PluginError(f"{where}: {e}") from None

    return DIRECTIVE.sub(one, markdown)


def on_page_markdown(markdown, page, config, files):
    return expand(markdown, page.file.src_uri)
