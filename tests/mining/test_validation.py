"""Parameter constraints: the constraint objects, ``validate_params``, and every estimator's table (a bad value
raises :class:`ParameterError` naming the parameter; defaults and boundary values pass)."""

from __future__ import annotations

import inspect
import types

import numpy as np
import pytest

from mining._internal.validation import (
    PATH,
    SEED,
    Boolean,
    Instance,
    Interval,
    ListOf,
    Options,
    describe,
    validate_params,
)
from mining.composites import CompositeRenderer
from mining.datasets.demo import MAX_PATCHES, DemoDataset
from mining.encoders.checkpoint import CheckpointEncoder
from mining.encoders.imported import ImportedEmbeddings
from mining.encoders.random import RandomProjectionEncoder
from mining.encoders.spectral import SpectralEncoder
from mining.errors import EomineError, ParameterError
from mining.knn import KNNGraph
from mining.noise import NoiseScorer
from mining.projection import Projection
from mining.tours import Tour


def _ssl():
    from mining.encoders.ssl import SSLEncoder  # imports torch

    return SSLEncoder


# --------------------------------------------------------------------------------------------- constraints
@pytest.mark.parametrize("constraint, good, bad, text", [
    (Interval(int, 1, None), [1, 7, np.int64(3)], [0, -2, 1.0, True, "3", None], "an int in [1, inf)"),
    (Interval(float, 0, 1), [0, 0.5, 1, np.float32(0.25)], [-0.1, 1.01, float("nan"), False, "0.5"],
     "a float in [0, 1]"),
    (Interval(float, 0, 1, closed="right"), [1e-9, 1.0], [0, 0.0], "a float in (0, 1]"),
    (Interval(float, 0, 0.5, closed="left"), [0, 0.49], [0.5], "a float in [0, 0.5)"),
    (Interval(float, 0, None, closed="neither"), [1e-9, 1e300], [0, float("inf")], "a float in (0, inf)"),
    (Interval(float, None, None), [-1e9, 0, 3], [float("-inf"), float("nan")], "a float"),
    (Options(("umap", "pca")), ["umap", "pca"], ["UMAP", "tsne", 1, None], "one of 'umap', 'pca'"),
    (Options({"auto"}), ["auto"], ["Auto", True], "'auto'"),
    (Boolean(), [True, False, np.bool_(True)], [0, 1, "True", None], "a bool"),
    (Instance(str), ["x", ""], [1, None, b"x"], "a str"),
    (PATH, ["a/b", __import__("pathlib").Path("x")], [None, 3], "a path"),
    (ListOf(Interval(int, 1, None)), [[1], (3, 4)], [[], [0], "12", 3, [1.5]],
     "a non-empty list of values, each an int in [1, inf)"),
    (SEED, [0, 2**32 - 1], [-1, 2**32], "an int in [0, 4294967295]"),
])
def test_constraints_accept_and_refuse_and_describe_themselves(constraint, good, bad, text):
    assert all(constraint.is_satisfied_by(v) for v in good), good
    assert not any(constraint.is_satisfied_by(v) for v in bad), bad
    assert str(constraint) == text


def test_describe_joins_the_alternatives():
    assert describe([Interval(int, 1, None), None]) == "an int in [1, inf) or None"
    assert describe([Interval(float, 0, 1), Options(("auto",)), None]) == "a float in [0, 1], 'auto' or None"


def test_bad_constraint_declarations_fail_loudly():
    with pytest.raises(TypeError):
        Interval(str, 0, 1)
    with pytest.raises(ValueError):
        Interval(int, 3, 1)
    with pytest.raises(ValueError):
        Interval(int, 0, 1, closed="open")
    with pytest.raises(TypeError):
        Options([])


def test_validate_params_names_the_parameter_and_the_estimator():
    with pytest.raises(ParameterError) as err:
        validate_params(KNNGraph(0))
    e = err.value
    assert str(e) == "KNNGraph: k must be an int in [1, inf), got 0"
    assert (e.param, e.owner, e.value, e.requirement) == ("k", "KNNGraph", 0, "an int in [1, inf)")
    assert isinstance(e, EomineError) and isinstance(e, ValueError)  # one documented type, still a ValueError
    with pytest.raises(ParameterError, match=r"got 0\.5$"):  # a numpy scalar shows as the number
        validate_params(KNNGraph(np.float64(0.5)))


# ------------------------------------------------------------------------------------------------ estimators
ESTIMATORS = [KNNGraph, Projection, NoiseScorer, Tour, CompositeRenderer, SpectralEncoder, RandomProjectionEncoder,
              CheckpointEncoder, ImportedEmbeddings, DemoDataset]


@pytest.mark.parametrize("cls", ESTIMATORS + ["ssl"], ids=lambda c: c if isinstance(c, str) else c.__name__)
def test_every_parameter_is_declared_and_every_default_passes(cls):
    cls = _ssl() if cls == "ssl" else cls
    params = {n for n in inspect.signature(cls.__init__).parameters if n not in ("self", "root")}
    assert set(cls._parameter_constraints) == params
    required = {"ImportedEmbeddings": {"path": "e.parquet"}, "CheckpointEncoder": {"path": "m.pt", "bands": ["B04"]}}
    validate_params(cls(**required.get(cls.__name__, {})))


def _fit(est):
    """Call the estimator's fit (scan for the demo) with inputs it never reaches: the parameters fail first."""
    if isinstance(est, DemoDataset):
        return est.scan()
    if isinstance(est, NoiseScorer):
        return est.fit(None, None, None, None)
    return est.fit(None)


# (estimator factory, parameter named in the error, start of the message)
BAD = [
    (lambda: KNNGraph(0), "k", "KNNGraph: k must be an int in [1, inf), got 0"),
    (lambda: KNNGraph(2.5), "k", "KNNGraph: k must be an int"),
    (lambda: KNNGraph(metric="manhattan"), "metric", "KNNGraph: metric must be one of 'cosine', 'euclidean'"),
    (lambda: KNNGraph(device="tpu"), "device", "KNNGraph: device must be one of"),
    (lambda: KNNGraph(seed=-1), "seed", "KNNGraph: seed must be an int in [0, 4294967295], got -1"),
    (lambda: Projection("tsne"), "method", "Projection: method must be one of 'umap', 'pca', got 'tsne'"),
    (lambda: Projection(min_dist=-1), "min_dist", "Projection: min_dist must be a float in [0, 1], got -1"),
    (lambda: Projection(min_dist=1.5), "min_dist", "Projection: min_dist must be a float in [0, 1]"),
    (lambda: Projection(n_epochs=0), "n_epochs", "Projection: n_epochs must be an int in [1, inf) or None, got 0"),
    (lambda: Projection(init="random"), "init", "Projection: init must be one of 'auto', 'spectral', 'pca'"),
    (lambda: Projection(reproducible="yes"), "reproducible", "Projection: reproducible must be a bool or 'auto'"),
    (lambda: NoiseScorer(model_weight=1.5), "model_weight", "NoiseScorer: model_weight must be a float in [0, 1] "
                                                            "or 'auto', got 1.5"),
    (lambda: NoiseScorer(prior_weight=-0.1), "prior_weight", "NoiseScorer: prior_weight must be a float in [0, 1]"),
    (lambda: NoiseScorer(outlier_weight=2), "outlier_weight", "NoiseScorer: outlier_weight must be"),
    (lambda: NoiseScorer(smoothing=-1), "smoothing", "NoiseScorer: smoothing must be a float in [0, inf)"),
    (lambda: NoiseScorer(n_folds=1), "n_folds", "NoiseScorer: n_folds must be an int in [2, inf), got 1"),
    (lambda: NoiseScorer(C=0), "C", "NoiseScorer: C must be a float in (0, inf)"),
    (lambda: NoiseScorer(max_train=0), "max_train", "NoiseScorer: max_train must be an int in [1, inf) or None"),
    (lambda: NoiseScorer(flag_threshold=0), "flag_threshold", "NoiseScorer: flag_threshold must be a float in (0, 1]"),
    (lambda: NoiseScorer(missing_start=1.2), "missing_start", "NoiseScorer: missing_start must be a float in (0, 1]"),
    (lambda: NoiseScorer(missing_gain=0), "missing_gain", "NoiseScorer: missing_gain must be a float in (0, inf)"),
    (lambda: NoiseScorer(refine=-1), "refine", "NoiseScorer: refine must be an int in [0, inf), got -1"),
    (lambda: NoiseScorer(refine=1.0), "refine", "NoiseScorer: refine must be an int"),
    (lambda: Tour("spiral"), "strategy", "Tour: strategy must be one of 'random', 'grand', 'boundary', 'class'"),
    (lambda: Tour(steps=0), "steps", "Tour: steps must be an int in [1, 100000], got 0"),
    (lambda: Tour(steps="12"), "steps", "Tour: steps must be an int in [1, 100000], got '12'"),
    (lambda: Tour(start=5), "start", "Tour: start must be a str or None, got 5"),
    (lambda: Tour(by="season"), "by", "Tour: by must be one of 'class', 'cluster'"),
    (lambda: Tour(max_run=0), "max_run", "Tour: max_run must be an int in [1, inf), got 0"),
    (lambda: CompositeRenderer(low=-1), "low", "CompositeRenderer: low must be a float in [0, 100], got -1"),
    (lambda: CompositeRenderer(gamma=0), "gamma", "CompositeRenderer: gamma must be a float in (0, inf)"),
    (lambda: CompositeRenderer(low=50, high=20), "high", "CompositeRenderer: high must be above low (50), got 20"),
    (lambda: SpectralEncoder(grid=0), "grid", "SpectralEncoder: grid must be an int in [1, inf), got 0"),
    (lambda: SpectralEncoder(sample="all"), "sample", "SpectralEncoder: sample must be an int"),
    (lambda: RandomProjectionEncoder(dim=0), "dim", "RandomProjectionEncoder: dim must be an int in [1, inf)"),
    (lambda: RandomProjectionEncoder(seed=-3), "seed", "RandomProjectionEncoder: seed must be an int in [0, "),
    (lambda: CheckpointEncoder(bands=["B04"]), "path", "CheckpointEncoder: path must be the path of a TorchScript"),
    (lambda: CheckpointEncoder(path="m.pt", bands="B04"), "bands", "CheckpointEncoder: bands must be a non-empty list"),
    (lambda: CheckpointEncoder(path="m.pt", bands=["B04"], size=0), "size", "CheckpointEncoder: size must be an int"),
    (lambda: CheckpointEncoder(path="m.pt", bands=["B04"], std=[1, "x"]), "std", "CheckpointEncoder: std must be"),
    (lambda: CheckpointEncoder(path="m.pt", bands=["B04"], amp="yes"), "amp", "CheckpointEncoder: amp must be a bool"),
    (lambda: ImportedEmbeddings("e.npy", ids=3), "ids", "ImportedEmbeddings: ids must be a path or None, got 3"),
    (lambda: DemoDataset(n=0), "n", f"DemoDataset: n must be an int in [1, {MAX_PATCHES}], got 0"),
    (lambda: DemoDataset(n=MAX_PATCHES + 1), "n", "DemoDataset: n must be an int in [1, 87073], got 87074"),
    (lambda: DemoDataset(seed=-1), "seed", "DemoDataset: seed must be an int in [0, 4294967295], got -1"),
    (lambda: DemoDataset(noise_rate=0.5), "noise_rate", "DemoDataset: noise_rate must be a float in [0, 0.5)"),
    (lambda: DemoDataset(noise_rate="x"), "noise_rate", "DemoDataset: noise_rate must be a float in [0, 0.5)"),
]


@pytest.mark.parametrize("make, param, message", BAD, ids=[f"{m[1]}-{i}" for i, m in enumerate(BAD)])
def test_a_bad_value_raises_a_parameter_error_naming_the_parameter(make, param, message):
    est = make()
    with pytest.raises(ParameterError) as err:
        _fit(est)
    assert err.value.param == param and err.value.owner == type(est).__name__
    assert str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("make, param, message", [
    (lambda c: c(dim=0), "dim", "SSLEncoder: dim must be an int in [1, inf), got 0"),
    (lambda c: c(grid=7), "grid", "SSLEncoder: grid must be an int in [8, inf), got 7"),
    (lambda c: c(view=3), "view", "SSLEncoder: view must be an int in [4, inf) or None, got 3"),
    (lambda c: c(epochs=0), "epochs", "SSLEncoder: epochs must be a float in (0, inf) or None, got 0"),
    (lambda c: c(lr=0), "lr", "SSLEncoder: lr must be a float in (0, inf)"),
    (lambda c: c(widths=()), "widths", "SSLEncoder: widths must be a non-empty list"),
    (lambda c: c(pixel_widths=[64, 0]), "pixel_widths", "SSLEncoder: pixel_widths must be a non-empty list"),
    (lambda c: c(s1="yes"), "s1", "SSLEncoder: s1 must be 'auto' or a bool, got 'yes'"),
    (lambda c: c(crop_min=0.6, crop_max=0.5), "crop_max", "SSLEncoder: crop_max must be at least crop_min (0.6)"),
    (lambda c: c(threads=0), "threads", "SSLEncoder: threads must be an int in [1, inf) or None"),
    (lambda c: c(retrain=1), "retrain", "SSLEncoder: retrain must be a bool, got 1"),
])
def test_ssl_encoder_parameters(make, param, message):
    with pytest.raises(ParameterError) as err:
        make(_ssl()).fit(None)
    assert err.value.param == param and str(err.value).startswith(message), str(err.value)


@pytest.mark.parametrize("est", [
    KNNGraph(1, metric="euclidean", method="exact", device="cpu", seed=2**32 - 1, exact_max_n=0),
    Projection("pca", min_dist=0, n_epochs=1, init="pca", reproducible=False),
    Projection(min_dist=1.0, reproducible=True),
    NoiseScorer(model_weight=0, prior_weight=1, outlier_weight=0, smoothing=0, n_folds=2, C=1e-3, max_train=None,
                flag_threshold=1, missing_start=1e-6, missing_gain=1e-6, refine=0, seed=0),
    NoiseScorer(model_weight=np.float32(1.0), n_folds=np.int64(10)),
    Tour("class", steps=100_000, start="P1", label="Forests", by="cluster", max_run=1),
    CompositeRenderer(low=0, high=100, gamma=1),
    SpectralEncoder(grid=1, sample=1),
    RandomProjectionEncoder(dim=1, grid=1, seed=0),
    CheckpointEncoder(path="m.pt", bands=("B04", "B03"), arch="resnet18", mean=[0.1, 0.2], std=2, scale=1, size=1,
                      strict=False, normalize=True, amp=False, threads=1),
    ImportedEmbeddings("e.npy", ids="ids.txt"),
    DemoDataset(n=1, seed=0, noise_rate=0), DemoDataset(n=MAX_PATCHES, noise_rate=0.49),
], ids=lambda e: type(e).__name__)
def test_boundary_values_pass(est):
    validate_params(est)


def test_ssl_boundary_values_pass():
    validate_params(_ssl()(dim=1, epochs=0.01, grid=8, view=4, widths=[1], pixel_widths=(1,), crop_min=1,
                           crop_max=1, jitter=0, noise=0, s1=False, time_budget_s=-1, threads=None, retrain=True))


def test_knn_k_must_be_below_the_number_of_points():
    X = np.random.default_rng(0).normal(size=(12, 4)).astype(np.float32)
    assert KNNGraph(11, method="exact", device="cpu").fit(X).indices_.shape == (12, 11)
    with pytest.raises(ParameterError) as err:
        KNNGraph(12, method="exact", device="cpu").fit(X)
    assert err.value.param == "k"
    assert str(err.value) == "KNNGraph: k must be an int in [1, 11] (fewer than the 12 points), got 12"


def test_method_arguments_and_export_parameters():
    with pytest.raises(ParameterError, match=r"CompositeRenderer: upscale must be an int in \[1, 4096\] or None"):
        CompositeRenderer().png(0, "true_color", upscale=0)
    from mining.tour_export import export_gif, export_html, tour_payload

    with pytest.raises(ParameterError, match=r"export_html: interval must be a float in \[0.2, 60\], got 0.1") as e:
        export_html(None, None, "unused.html", interval=0.1)
    assert e.value.param == "interval"
    fitted = types.SimpleNamespace(rows_=np.arange(3))
    with pytest.raises(ParameterError, match=r"size must be an int in \[16, 768\], got 8"):
        tour_payload(fitted, None, size=8)
    with pytest.raises(ParameterError, match=r"export_gif: size must be an int in \[64, 512\], got 1000"):
        export_gif(fitted, None, "unused.gif", size=1000)


def test_demo_capacity_is_the_number_of_grid_cells_of_its_tiles():
    from mining.datasets.demo import load_tiles
    from mining.datasets.demo.landscape import _allowed_cells

    assert MAX_PATCHES == sum(len(_allowed_cells(t)) for t in load_tiles())
