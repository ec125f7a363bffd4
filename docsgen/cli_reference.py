"""The command-line reference, generated from the parsers: every ``keras-ecg`` subcommand's ``--help``.

The parsers are built inside each command (``keras_ecg/cli.py``, ``keras_ecg/deploy/commands.py``,
``keras_ecg/deploy/digitize_cmd.py``, ``keras_ecg/serve/command.py``; ``train`` prints the run
configuration's flags, ``keras_ecg/config.py``), so the reference asks each command for its help, as a user
would, in this process and without importing keras.
"""

from __future__ import annotations

import contextlib
import io
import os


class CommandHelpError(RuntimeError):
    """A subcommand's ``--help`` failed or printed nothing."""


def command_help(command: str | None) -> str:
    """What ``keras-ecg COMMAND --help`` prints (``keras-ecg --help`` for ``None``), at a fixed width."""
    from keras_ecg import cli

    argv = ["--help"] if command is None else [command, "--help"]
    out = io.StringIO()
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "100"  # argparse wraps at $COLUMNS: the page must not depend on the terminal
    try:
        with contextlib.redirect_stdout(out):
            try:
                cli.main(argv)
            except SystemExit as e:
                if e.code not in (0, None):
                    raise CommandHelpError(f"keras-ecg {' '.join(argv)} exited with {e.code!r}") from None
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    text = out.getvalue().strip()
    if not text:
        raise CommandHelpError(f"keras-ecg {' '.join(argv)} printed nothing")
    return text


def commands() -> list[str]:
    """Every subcommand ``keras-ecg`` dispatches to, in its own order (``bench`` forwards to a script)."""
    from keras_ecg import cli

    return list(cli.COMMANDS)


def reference_markdown() -> str:
    """The whole reference: the overview, then one section per subcommand with its help in a code block."""
    parts = ["```text", command_help(None), "```", ""]
    for name in commands():
        parts += [f"## `keras-ecg {name}`", "", "```text", command_help(name), "```", ""]
    return "\n".join(parts)
