"""The documentation site's generators: results tables, the command-line reference, the examples' extraction.

Used by the MkDocs hook (``docsgen/hooks.py``, named in ``mkdocs.yml``) and by ``tests/test_docs_examples.py``.
Nothing here is imported by ``keras_ecg``.
"""
