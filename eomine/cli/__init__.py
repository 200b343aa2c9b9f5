"""The ``eomine`` command line.

It sits above the engine (:mod:`mining`) and the dashboard (:mod:`dashboard`): only this package imports both.
Every command lives in a module by concern (:mod:`.data`, :mod:`.pipeline`, :mod:`.curation`, :mod:`.serve`,
:mod:`.tour`, :mod:`.learn`, :mod:`.audit`, :mod:`.split`); this module holds the group, :func:`main` and the one error contract of every command:

* an invalid option or argument (out of range, wrong type, not a choice, missing, unknown, inconsistent with
  another option), a bad parameter reported by an estimator (named by its option, not its Python name) and
  every error eomine raises on purpose (:class:`~mining.errors.EomineError`) print exactly one line on stderr,
  ``error: …``, and exit with code 2 (an interrupt: ``error: aborted``, code 1);
* never a traceback, never click's ``Usage: … Try 'eomine -h' … Error: …`` block;
* ``-h`` / ``--help`` and ``--version`` print and exit 0.
"""

from __future__ import annotations

import sys

import click

from mining import __version__
from mining.errors import EomineError, ParameterError, show_value

from ._options import OptionError, option_label, option_of_parameter

__all__ = ["main", "error_line", "EomineGroup"]


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _sentence(text: str) -> str:
    """click's messages as part of our line: first letter lower case, no final full stop."""
    text = _one_line(text).rstrip(".")
    if text[:1].isupper() and text[1:2].islower():
        text = text[0].lower() + text[1:]
    return text


def _command(ctx: click.Context | None) -> str:
    """``eomine knn`` (whatever name the program was started by)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.append(ctx.info_name)
        ctx = ctx.parent
    return " ".join(["eomine", *reversed(names)])


def error_line(exc: BaseException) -> str:
    """The one ``error: …`` line that reports ``exc`` (a click error, an abort or an :class:`EomineError`)."""
    if isinstance(exc, ParameterError):
        option = option_of_parameter(exc)
        msg = f"{option} must be {exc.requirement}, got {show_value(exc.value)}" if option else str(exc)
    elif isinstance(exc, EomineError):
        msg = str(exc)
    elif isinstance(exc, OptionError):
        msg = exc.message
    elif isinstance(exc, click.MissingParameter):
        param = exc.param
        kind = "argument" if isinstance(param, click.Argument) else "option"
        msg = f"missing {kind} {option_label(param)}"
        if param is not None and isinstance(param.type, click.Choice):
            msg += f" (one of {', '.join(map(str, param.type.choices))})"
    elif isinstance(exc, click.NoSuchOption):
        where = _command(exc.ctx)
        msg = f"{where} has no option {exc.option_name}"
        if exc.possibilities:
            msg += f"; did you mean {' or '.join(sorted(exc.possibilities))}?"
        else:
            msg += f" (see {where} -h)"
    elif isinstance(exc, click.BadParameter):
        msg = f"invalid value for {option_label(exc.param)}: {_sentence(exc.message)}"
    elif isinstance(exc, click.ClickException):
        msg = _sentence(exc.message)
    elif isinstance(exc, click.Abort):
        msg = "aborted"
    else:
        msg = f"{type(exc).__name__}: {exc}"
    return f"error: {_one_line(msg)}"


class EomineGroup(click.Group):
    """A group whose :meth:`main` reports every error as one line (see the module docstring).

    click runs with ``standalone_mode=False``, so its errors reach :meth:`main` as exceptions instead of being
    printed as a usage block; ``--help`` and ``--version`` come back as exit code 0. ``CliRunner`` calls
    :meth:`main` too, so tests go through the same path.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `eomine` alone: the help, as click prints it
            if not standalone_mode:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except (click.ClickException, click.Abort, EomineError) as exc:
            if not standalone_mode:
                raise
            click.secho(error_line(exc), fg="red", err=True)
            sys.exit(1 if isinstance(exc, click.Abort) else 2)
        if not standalone_mode:
            return rv
        sys.exit(rv if isinstance(rv, int) else 0)  # an int is the code of click's Exit (--help, --version)


@click.group(cls=EomineGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="eomine")
def main():
    """eomine: visual data mining for Earth-observation patch benchmarks."""


def _register() -> None:
    from . import audit, curation, data, learn, pipeline, serve, split, tour

    for cmd in (data.ingest, data.demo, data.info, data.thumb, pipeline.embed_cmd, pipeline.knn_cmd,
                pipeline.project_cmd, pipeline.run_cmd, pipeline.report_cmd, pipeline.score_cmd,
                serve.serve, curation.export_cmd, curation.history_cmd,
                curation.undo_cmd, curation.redo_cmd, tour.tour_cmd, learn.learn_cmd, audit.audit_cmd,
                split.split_cmd, curation.log_group):
        main.add_command(cmd)


_register()
