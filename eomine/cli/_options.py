"""Option types and shared option declarations of the ``eomine`` command line.

The numeric and choice types come from the estimators' constraint tables (:func:`option_type`), so each range
is declared once, in ``mining``. Every type reports a bad value as one sentence that names the option and what
it must be (``--k must be an int in [1, inf), got '0'``); :mod:`eomine.cli` prints it as the ``error:`` line.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Callable
from pathlib import Path

import click

from mining._internal.validation import Constraint, Interval, Options, describe
from mining.distributed.cluster import BACKENDS, RayCluster
from mining.encoders import ENCODERS
from mining.errors import ParameterError, show_value
from mining.knn import KNNGraph

__all__ = ["OptionError", "option_label", "Int", "Float", "Choice", "Union", "BandList", "NameList", "ScaleList", "Ratios", "Assignment", "Host", "LogLocation", "log_option",
           "option_type", "range_type", "PORT", "BATCH_SIZE", "workspace_argument", "json_option", "force_option",
           "seed_option", "device_option", "ENCODER_CHOICES", "encoder_options", "with_options", "option_of_parameter",
           "Checked", "StoreUrl", "backend_options", "ray_cluster"]


class OptionError(click.BadParameter):
    """A bad option value; its message is the whole sentence, option name included."""


def option_label(param: click.Parameter | None) -> str:
    """How the error line names a parameter: ``--k``, ``--reproducible/--parallel``, ``WORKSPACE``."""
    if param is None:
        return "value"
    if isinstance(param, click.Option):
        longs = [o for o in param.opts if o.startswith("--")] or param.opts
        second = [o for o in param.secondary_opts if o.startswith("--")]
        return "/".join(longs[:1] + second[:1])
    return param.human_readable_name


def _fail(param: click.Parameter | None, ctx: click.Context | None, what: str, value) -> None:
    raise OptionError(f"{option_label(param)} must be {what}, got {show_value(value)}", ctx=ctx, param=param)


class _Checked:
    """Mixin: click's conversion, then our check; any failure becomes one :class:`OptionError` sentence."""

    description: str

    def _ok(self, value) -> bool:
        return True

    def convert(self, value, param, ctx):
        try:
            rv = super().convert(value, param, ctx)
        except click.BadParameter:
            _fail(param, ctx, self.description, value)
        if not self._ok(rv):
            _fail(param, ctx, self.description, value)
        return rv


class Int(_Checked, click.IntRange):
    """An int within an :class:`~mining._internal.validation.Interval` (help shows the range)."""

    def __init__(self, interval: Interval):
        super().__init__(min=interval.left, max=interval.right, min_open=interval.left_open,
                         max_open=interval.right_open)
        self.interval = interval
        self.description = str(interval)

    def _ok(self, value) -> bool:
        return self.interval.is_satisfied_by(value)


class Float(_Checked, click.FloatRange):
    """A finite float within an :class:`~mining._internal.validation.Interval` (help shows the range)."""

    def __init__(self, interval: Interval):
        super().__init__(min=interval.left, max=interval.right, min_open=interval.left_open,
                         max_open=interval.right_open)
        self.interval = interval
        self.description = str(interval)

    def _ok(self, value) -> bool:
        return self.interval.is_satisfied_by(value)


class Choice(_Checked, click.Choice):
    """One of the strings of an :class:`~mining._internal.validation.Options`."""

    def __init__(self, options: Options | list[str] | tuple[str, ...]):
        options = options if isinstance(options, Options) else Options(options)
        super().__init__(list(options.options))
        self.description = str(options)


class Union(click.ParamType):
    """A word (``auto``) or a number in a range: ``Union(("auto",), Float(Interval(float, 0, 1)))``."""

    def __init__(self, words: tuple[str, ...], number: Int | Float):
        self.words = tuple(words)
        self.number = number
        self.name = "|".join([*self.words, number.name.split()[0]])
        self.description = describe([Options(self.words), number.interval])

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "|".join([*self.words, "INTEGER" if isinstance(self.number, Int) else "FLOAT"])

    def convert(self, value, param, ctx):
        if value in self.words:
            return value
        try:
            return self.number.convert(value, param, ctx)
        except click.BadParameter:
            _fail(param, ctx, self.description, value)


class Checked(click.ParamType):
    """A text value that must satisfy one :class:`~mining._internal.validation.Constraint` (a Ray address)."""

    def __init__(self, constraint: Constraint, name: str = "text"):
        self.constraint = constraint
        self.name = name
        self.description = str(constraint)

    def convert(self, value, param, ctx):
        if not self.constraint.is_satisfied_by(value):
            _fail(param, ctx, self.description, value)
        return value


class StoreUrl(click.ParamType):
    """An fsspec URL (``s3://bucket/ws/pixels``, ``file:///shared/ws/pixels``) or an absolute path."""

    name = "url"
    description = "an fsspec URL (PROTOCOL://...) or an absolute path of a pixels/ folder"

    def convert(self, value, param, ctx):
        value = str(value)
        proto, sep, rest = value.partition("://")
        if not ((sep and re.fullmatch(r"[a-z][a-z0-9+.-]*", proto) and rest) or value.startswith("/")):
            _fail(param, ctx, self.description, value)
        return value


def range_type(interval: Interval) -> Int | Float:
    """The click type of an :class:`~mining._internal.validation.Interval`."""
    return Int(interval) if interval.type is int else Float(interval)


def option_type(cls: type, name: str) -> click.ParamType:
    """The click type of parameter ``name`` of estimator ``cls``, from its ``_parameter_constraints``.

    ``None`` in the table is left out (an option's absence gives ``None``). One interval gives :class:`Int` /
    :class:`Float`, one :class:`Options` a :class:`Choice`, options and one interval a :class:`Union`.

    Examples
    --------
    >>> option_type(KNNGraph, "k")    # doctest: +SKIP
    <Int x>=1>
    """
    constraints = [c for c in cls._parameter_constraints[name] if c is not None]
    intervals = [c for c in constraints if isinstance(c, Interval)]
    options = [c for c in constraints if isinstance(c, Options)]
    if len(constraints) == 1 and not intervals and not options:
        return Checked(constraints[0], name.upper())
    if len(intervals) + len(options) != len(constraints) or len(intervals) > 1 or len(options) > 1:
        raise TypeError(f"{cls.__name__}.{name}: no command-line type for {describe(constraints)}")
    if intervals and options:
        return Union(options[0].options, range_type(intervals[0]))
    return range_type(intervals[0]) if intervals else Choice(options[0])


class BandList(click.ParamType):
    """Comma-separated band names (``B04,B03,B02``) -> list of str: none empty, none twice."""

    name = "bands"
    description = "comma-separated band names without repeats, e.g. B04,B03,B02"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "B04,B03,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        names = [b.strip() for b in str(value).split(",")]
        if not all(names) or len(set(names)) != len(names):
            _fail(param, ctx, self.description, value)
        return names


class NameList(BandList):
    """Comma-separated class names (``Water,Forest,Urban``) -> list of str: none empty, none twice."""

    name = "classes"
    description = "comma-separated class names without repeats, e.g. Water,Forest,Urban"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "NAME,NAME,..."


class ScaleList(click.ParamType):
    """Comma-separated patch sizes in metres (``4800,2400,1200``) -> list of float: positive, none twice."""

    name = "scales"
    description = "comma-separated patch sizes in metres, e.g. 4800,2400,1200"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "M,M,..."

    def convert(self, value, param, ctx):
        if isinstance(value, list):
            return value
        try:
            sizes = [float(v) for v in str(value).split(",")]
        except ValueError:
            _fail(param, ctx, self.description, value)
        if not sizes or any(not (v > 0 and v < 1e7) for v in sizes) or len(set(sizes)) != len(sizes):
            _fail(param, ctx, self.description, value)
        return sizes


class Ratios(click.ParamType):
    """``0.5,0.25,0.25`` (train, validation, test) or ``0.8,0.2`` (train, test) -> tuple of float."""

    name = "ratios"
    description = "2 or 3 positive shares summing to 1 (train,test or train,validation,test), e.g. 0.5,0.25,0.25"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "TRAIN,[VAL,]TEST"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            r = tuple(float(v) for v in str(value).split(","))
        except ValueError:
            r = ()
        if len(r) not in (2, 3) or any(not (v > 0) for v in r) or abs(sum(r) - 1) > 1e-3:
            _fail(param, ctx, self.description, value)
        return r


class Assignment(click.ParamType):
    """``NAME=VALUE`` -> ``(name, value)``, the value decoded as JSON when it is JSON (else the string)."""

    name = "NAME=VALUE"
    description = "NAME=VALUE with NAME a parameter name (VALUE: JSON or text)"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        key, sep, raw = str(value).partition("=")
        if not sep or not key.isidentifier():
            _fail(param, ctx, self.description, value)
        try:
            return key, json.loads(raw)
        except json.JSONDecodeError:
            return key, raw


_HOSTNAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                       r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


class Host(click.ParamType):
    """An IP address or a host name (RFC 1123 syntax; it is not resolved here)."""

    name = "host"
    description = "an IP address or a host name"

    def convert(self, value, param, ctx):
        value = str(value)
        try:
            ipaddress.ip_address(value)
            return value
        except ValueError:
            pass
        if not _HOSTNAME.fullmatch(value):
            _fail(param, ctx, self.description, value)
        return value


class LogLocation(click.ParamType):
    """Where the edit log is: ``sqlite`` (``WS/edits.sqlite``) or a ``postgresql://`` URL (checked here, reached
    when the command opens the log); the password never appears in a message."""

    name = "log"
    description = "'sqlite' or a postgresql:// URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE[?schema=NAME])"

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "sqlite|postgresql://..."

    def convert(self, value, param, ctx):
        from mining.curation.postgres import mask_url, parse_url
        from mining.errors import DataError

        text = str(value).strip()
        if text.lower() == "sqlite":
            return "sqlite"
        try:
            parse_url(text)
        except DataError:
            _fail(param, ctx, self.description, mask_url(text))
        return text


PORT = Int(Interval(int, 1, 65535))
BATCH_SIZE = Union(("auto",), Int(Interval(int, 1, None)))


# ------------------------------------------------------------------------------------ shared declarations
def workspace_argument(*, required: bool = True) -> Callable:
    return click.argument("workspace", type=click.Path(path_type=Path), required=required)


#: ``--log``: the edit log this command reads and writes (None: ``$EOMINE_LOG``, else ``WS/edits.sqlite``)
log_option = click.option("--log", "log_url", type=LogLocation(), default=None,
                          help="The edit log: sqlite (WS/edits.sqlite) or postgresql://USER:PASSWORD@HOST:PORT/DB "
                               "shared by several servers (default: $EOMINE_LOG, else sqlite).")

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def force_option(help: str | None = None) -> Callable:
    return click.option("--force", is_flag=True, help=help)


def seed_option(cls: type) -> Callable:
    """``--seed`` with the range of ``cls``'s ``seed`` parameter."""
    return click.option("--seed", type=option_type(cls, "seed"), default=0, show_default=True)


device_option = click.option("--device", default="auto", show_default=True, type=option_type(KNNGraph, "device"))

#: ``--encoder``: ``auto`` (:func:`mining.encoders.default_encoder`: galileo when its weights are found, else
#: spectral) or any encoder of :data:`mining.encoders.ENCODERS`
ENCODER_CHOICES = ("auto", *ENCODERS)

encoder_options = [
    click.option("--encoder", default="auto", show_default=True, type=Choice(ENCODER_CHOICES),
                 help="auto: galileo when its weights are found, else spectral."),
    device_option,
    click.option("--batch-size", default="auto", show_default=True, type=BATCH_SIZE),
    click.option("--from", "from_file", type=click.Path(path_type=Path), help="import: embeddings file."),
    click.option("--ids", type=click.Path(path_type=Path), help="import: patch ids for a .npy, one per line."),
    click.option("--checkpoint", type=click.Path(path_type=Path), help="checkpoint: TorchScript or state_dict."),
    click.option("--arch", help="checkpoint: torchvision name (resnet18 ...) or timm:<name> for a state_dict."),
    click.option("--bands", type=BandList(),
                 help="checkpoint: store bands in the model's input order, comma-separated."),
    click.option("--param", multiple=True, type=Assignment(),
                 help="Encoder parameter NAME=VALUE (JSON values), repeatable."),
]


#: ``--backend`` / ``--address`` / ``--actors`` of ``embed``, ``knn``, ``score`` and ``run``
backend_options = [
    click.option("--backend", default="local", show_default=True, type=Choice(BACKENDS),
                 help="local: this process. ray: a Ray cluster (--address; a local one started for the command "
                      "otherwise)."),
    click.option("--address", default=None, type=option_type(RayCluster, "address"),
                 help="Ray cluster to join (HOST:PORT of `ray start --head`, ray://HOST:PORT or auto); "
                      "with --backend ray."),
    click.option("--actors", default=None, type=option_type(RayCluster, "actors"),
                 help="Ray actors (default auto: one per GPU, else one per CPU but one); with --backend ray."),
]


def ray_cluster(backend: str, address: str | None, actors, **only_ray):
    """The context of a command's backend: ``nullcontext(None)`` for local, an unentered
    :class:`mining.distributed.RayCluster` for ray. Options given without ``--backend ray`` are usage errors
    (``only_ray``: option name -> value, None when not given)."""
    from contextlib import nullcontext

    if backend != "ray":
        given = {"--address": address, "--actors": actors, **only_ray}
        for option, value in given.items():
            if value is not None:
                raise click.UsageError(f"{option} only applies to --backend ray")
        return nullcontext(None)
    return RayCluster(address, actors=actors if actors is not None else "auto")


def with_options(options: list[Callable]) -> Callable:
    """Apply a list of click decorators in order (the first is the first in ``--help``)."""
    def deco(f):
        for opt in reversed(options):
            f = opt(f)
        return f
    return deco


# ------------------------------------------------------------------- estimator parameters -> options
#: the option that sets each estimator parameter the command line exposes
_OPTIONS = {
    "KNNGraph": {"k": "--k", "metric": "--metric", "method": "--method", "device": "--device", "seed": "--seed",
                 "nprobe": "--nprobe"},
    "RayKNNGraph": {"k": "--k", "metric": "--metric", "method": "--method", "device": "--device", "seed": "--seed",
                    "nprobe": "--nprobe"},
    "RayCluster": {"address": "--address", "actors": "--actors"},
    "Projection": {"method": "--method", "seed": "--seed", "min_dist": "--min-dist", "n_epochs": "--epochs",
                   "init": "--init", "reproducible": "--reproducible/--parallel"},
    "NoiseScorer": {"model_weight": "--model-weight", "prior_weight": "--prior-weight", "n_folds": "--folds",
                    "flag_threshold": "--flag-threshold", "outlier_weight": "--outlier-weight",
                    "missing_start": "--missing-start", "missing_gain": "--missing-gain", "refine": "--refine",
                    "seed": "--seed"},
    "RayNoiseScorer": {"model_weight": "--model-weight", "prior_weight": "--prior-weight", "n_folds": "--folds",
                       "flag_threshold": "--flag-threshold", "outlier_weight": "--outlier-weight",
                       "missing_start": "--missing-start", "missing_gain": "--missing-gain", "refine": "--refine",
                       "seed": "--seed"},
    "Tour": {"strategy": "--strategy", "steps": "--steps", "start": "--start", "label": "--label", "seed": "--seed",
             "by": "--by", "max_run": "--max-run"},
    "ActiveLearner": {"strategy": "--strategy", "batch_size": "--batch", "min_distance_km": "--min-distance-km",
                      "class_balance": "--class-balance", "target": "--target", "seed": "--seed"},
    "DemoDataset": {"n": "--n", "seed": "--seed", "noise_rate": "--noise-rate"},
    "CompositeRenderer": {"upscale": "--size"},
    "export_html": {"size": "--size", "interval": "--interval"},
    "CheckpointEncoder": {"path": "--checkpoint", "bands": "--bands", "arch": "--arch"},
    "ImportedEmbeddings": {"path": "--from", "ids": "--ids"},
}
_ENCODER_CLASSES = {spec.split(":")[1] for spec in ENCODERS.values()}


def option_of_parameter(exc: ParameterError) -> str | None:
    """The command-line option behind an estimator's :class:`ParameterError` (``--k``; ``--param dim`` for the
    encoder parameters given with ``--param``), or None when no option sets it."""
    option = _OPTIONS.get(exc.owner or "", {}).get(exc.param)
    if option is None and exc.owner in _ENCODER_CLASSES:
        option = f"--param {exc.param}"
    return option
