"""``--encoder``: ``auto`` (the default of ``embed`` and ``run``) and the demo's encoder are
:func:`mining.encoders.default_encoder` (galileo when its weights are found, else spectral); a named encoder is
used as named. The steps themselves are replaced by recorders: these tests only check which encoder is asked for."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import mining.encoders
import mining.noise
import mining.pipeline
from eomine.cli import main
from eomine.cli._options import ENCODER_CHOICES
from mining.encoders import ENCODERS
from mining.pipeline import StepResult


@pytest.fixture
def asked(monkeypatch):
    """The encoder names the embed step is asked for (the step itself does nothing)."""
    names: list[str] = []

    def step_embed(ws, name="spectral", params=None, **kw):
        names.append(name)
        return StepResult("embed", True, {"encoder": name, "dim": 1, "device": "cpu", "n": 0})

    def run_pipeline(ws, *, encoder="spectral", **kw):
        names.append(encoder)
        return {}

    monkeypatch.setattr(mining.pipeline, "step_embed", step_embed)
    monkeypatch.setattr(mining.pipeline, "run_pipeline", run_pipeline)
    monkeypatch.setattr(mining.noise, "score_workspace", lambda ws, **kw: ({"n_flagged": 0}, True))
    return names


def test_choices_are_auto_and_every_encoder():
    assert ENCODER_CHOICES == ("auto", *ENCODERS) and "galileo" in ENCODER_CHOICES
    opt = next(p for p in main.commands["embed"].params if p.name == "encoder")
    assert opt.default == "auto" and list(opt.type.choices) == list(ENCODER_CHOICES)
    res = CliRunner().invoke(main, ["run", "-h"])
    assert res.exit_code == 0 and "galileo when its weights are found" in res.stdout


@pytest.mark.parametrize("default", ["galileo", "spectral"])
@pytest.mark.parametrize("command", ["embed", "run"])
def test_auto_is_the_default_encoder(small_ws, asked, monkeypatch, command, default):
    monkeypatch.setattr(mining.encoders, "default_encoder", lambda: default)
    for args in ([], ["--encoder", "auto"]):
        res = CliRunner().invoke(main, [command, str(small_ws), *args])
        assert res.exit_code == 0, res.output
    assert asked == [default, default]


@pytest.mark.parametrize("command", ["embed", "run"])
def test_a_named_encoder_is_used_as_named(small_ws, asked, monkeypatch, command):
    monkeypatch.setattr(mining.encoders, "default_encoder", lambda: "galileo")
    res = CliRunner().invoke(main, [command, str(small_ws), "--encoder", "spectral"])
    assert res.exit_code == 0, res.output
    assert asked == ["spectral"]


@pytest.mark.parametrize("default", ["galileo", "spectral"])
def test_the_demo_embeds_with_the_default_encoder(small_ws, asked, monkeypatch, default):
    from eomine.cli.data import _demo_pipeline

    monkeypatch.setattr(mining.encoders, "default_encoder", lambda: default)
    _demo_pipeline(small_ws)
    assert asked == [default]
