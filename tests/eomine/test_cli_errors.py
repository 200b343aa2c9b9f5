"""The one error contract of the command line: every bad option of every command prints exactly one line on
stderr, ``error: …``, naming the option and what it must be, with exit code 2 and no traceback; through click's
``CliRunner`` and through a real ``python -m eomine.cli`` process alike."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from eomine.cli import error_line, main
from eomine.cli._options import Float, Int, Union
from mining.encoders import default_encoder
from mining.errors import ParameterError

ROOT = Path(__file__).resolve().parents[2]
#: what ``--encoder auto`` (the default) is here: galileo when its weights are found, else spectral
DEFAULT = default_encoder()

# (arguments: {ws} the small workspace, {pid} one of its patches, {out} a file that must not appear, {src} a
#  missing source folder; words the error line must contain: the option and what it must be)
CASES = [
    # ingest
    ("ingest {src} --format bogus --out {out}", ["--format", "one of 'reben'", "'folder'", "got 'bogus'"]),
    ("ingest {src} --format folder --out {out} --workers 0", ["--workers", "an int in [1, inf)", "got '0'"]),
    ("ingest {src} --format eurosat", ["missing option --out"]),
    ("ingest --format eurosat --out {out}", ["missing argument SOURCE"]),
    ("ingest {src} --format folder --out {out} --bands B04,,B02", ["--bands", "comma-separated band names"]),
    ("ingest {src} --format folder --out {out} --on-error ignore", ["--on-error", "one of 'skip', 'fail'"]),
    ("ingest {src} --format folder --out {out} --classes Water,,Urban", ["--classes", "comma-separated class names"]),
    ("ingest {src} --format scene --out {out} --patch-size 0", ["--patch-size must be a float in (0, inf), got '0'"]),
    ("ingest {src} --format scene --out {out} --max-nodata 2", ["--max-nodata must be a float in [0, 1], got '2'"]),
    ("ingest {src} --format scene --out {out} --scales 4800,x", ["--scales", "comma-separated patch sizes"]),
    ("ingest {src} --format folder --out {out} --s1 s1.tif", ["--s1 does not apply to --format folder"]),
    ("ingest {src} --format eurosat --out {out} --classes A,B", ["--classes does not apply to --format eurosat"]),
    ("ingest {src} --format folder --out {out} --nomenclature clc", ["--nomenclature", "'ben19', 'eurosat'"]),
    ("ingest {src} --format eurosat --out {out} --table t.csv", ["--table does not apply to --format eurosat"]),
    # demo
    ("demo --out {out} --n 30", ["--n", "an int in [31, 87073]", "got '30'"]),
    ("demo --out {out} --n 100000", ["--n", "[31, 87073]"]),
    ("demo --out {out} --n many", ["--n", "[31, 87073]", "got 'many'"]),
    ("demo --out {out} --seed -1", ["--seed", "an int in [0, 4294967295]"]),
    ("demo --out {out} --noise-rate 0.5", ["--noise-rate", "a float in [0, 0.5)", "got '0.5'"]),
    ("demo --out {out} --noise-rate -0.1", ["--noise-rate", "[0, 0.5)"]),
    # info
    ("info", ["missing argument WORKSPACE"]),
    ("info {ws} --verbose", ["eomine info has no option --verbose"]),
    ("info {ws} --json=yes", ["--json", "does not take a value"]),
    ("info {ws} extra", ["unexpected extra argument (extra)"]),
    # thumb
    ("thumb {ws} {pid} -o {out} --size 0", ["--size", "an int in [1, 4096]", "got '0'"]),
    ("thumb {ws} {pid} -o {out} --size 5000", ["--size", "[1, 4096]"]),
    ("thumb {ws} {pid} -o {out} -c infrared", ["--composite", "one of 'true_color'", "'s1'", "got 'infrared'"]),
    ("thumb {ws} {pid}", ["missing option --out"]),
    ("thumb {ws} NOPE_1 -o {out}", ["NOPE_1"]),
    # embed
    ("embed {ws} --batch-size 0", ["--batch-size", "'auto' or an int in [1, inf)", "got '0'"]),
    ("embed {ws} --batch-size big", ["--batch-size", "'auto' or an int in [1, inf)"]),
    ("embed {ws} --encoder bert", ["--encoder", "one of 'auto', 'galileo', 'spectral', 'ssl'", "got 'bert'"]),
    ("embed {ws} --device tpu", ["--device", "one of 'auto', 'cpu', 'cuda'"]),
    ("embed {ws} --param grid", ["--param", "NAME=VALUE", "got 'grid'"]),
    ("embed {ws} --param dim=8", ["--param dim", f"the {DEFAULT} encoder has no parameter dim"]),  # auto
    ("embed {ws} --encoder spectral --param dim=8", ["--param dim", "spectral encoder has no parameter dim",
                                                     "grid, sample"]),
    ("embed {ws} --encoder random --param dim=0", ["--param dim must be an int in [1, inf), got 0"]),
    ("embed {ws} --encoder galileo --param patch_size=99", ["--param patch_size must be an int in [1, 8] or None, "
                                                            "got 99"]),
    ("embed {ws} --encoder galileo --param month=13", ["--param month must be 'auto' or an int in [1, 12], got 13"]),
    ("embed {ws} --encoder galileo --param groups=RGB", ["--param groups must be", "S2_RGB", "got 'RGB'"]),
    ("embed {ws} --encoder galileo --param dim=8", ["--param dim", "the galileo encoder has no parameter dim",
                                                    "weights, patch_size, groups"]),
    ("embed {ws} --encoder spectral --param grid=\"x\"", ["--param grid must be an int in [1, inf), got 'x'"]),
    ("embed {ws} --encoder import", ["--encoder import needs --from"]),
    ("embed {ws} --from e.npy", ["--from only applies to --encoder import"]),
    ("embed {ws} --encoder checkpoint --checkpoint m.pt", ["--checkpoint", "--bands"]),
    ("embed {ws} --backend spark", ["--backend", "one of 'local', 'ray'", "got 'spark'"]),
    ("embed {ws} --backend ray --address nohost", ["--address must be HOST:PORT, ray://HOST:PORT or auto, "
                                                   "got 'nohost'"]),
    ("embed {ws} --backend ray --address 10.0.0.1:70000", ["--address", "HOST:PORT"]),
    ("embed {ws} --backend ray --actors 0", ["--actors must be 'auto' or an int in [1, inf), got '0'"]),
    ("embed {ws} --backend ray --shard-rows 0", ["--shard-rows must be an int in [1, inf), got '0'"]),
    ("embed {ws} --backend ray --store-url pixels", ["--store-url", "an fsspec URL", "got 'pixels'"]),
    ("embed {ws} --address 127.0.0.1:6379", ["--address only applies to --backend ray"]),
    ("embed {ws} --shard-rows 64", ["--shard-rows only applies to --backend ray"]),
    ("embed {ws} --store-url s3://b/ws/pixels", ["--store-url only applies to --backend ray"]),
    # knn
    ("knn {ws} --backend ray --actors many", ["--actors", "'auto' or an int in [1, inf)"]),
    ("knn {ws} --actors 2", ["--actors only applies to --backend ray"]),
    ("knn {ws} --nprobe 0", ["--nprobe must be an int in [1, inf), got '0'"]),
    ("knn {ws} --k 0", ["--k must be an int in [1, inf), got '0'"]),
    ("knn {ws} --k -3", ["--k must be an int in [1, inf), got '-3'"]),
    ("knn {ws} --k 2.5", ["--k", "[1, inf)"]),
    ("knn {ws} --k 60", ["--k must be an int in [1, 59] (fewer than the 60 points), got 60"]),
    ("knn {ws} --metric manhattan", ["--metric", "one of 'cosine', 'euclidean'"]),
    ("knn {ws} --method ball_tree", ["--method", "one of 'auto', 'exact', 'nndescent'"]),
    ("knn {ws} --device gpu", ["--device", "'cuda'"]),
    ("knn {ws} --seed 4294967296", ["--seed", "[0, 4294967295]"]),
    ("knn {ws} --kk 5", ["eomine knn has no option --kk; did you mean --k?"]),
    ("knn {ws} --k", ["option '--k' requires an argument"]),
    # project
    ("project {ws} --min-dist -1", ["--min-dist must be a float in [0, 1], got '-1'"]),
    ("project {ws} --min-dist 1.5", ["--min-dist", "[0, 1]"]),
    ("project {ws} --min-dist nan", ["--min-dist", "[0, 1]", "got 'nan'"]),
    ("project {ws} --epochs 0", ["--epochs", "an int in [1, inf)"]),
    ("project {ws} --seed x", ["--seed", "[0, 4294967295]"]),
    ("project {ws} --method tsne", ["--method", "one of 'umap', 'pca'"]),
    ("project {ws} --init random", ["--init", "one of 'auto', 'spectral', 'pca'"]),
    # run
    ("run {ws} --k 0", ["--k", "[1, inf)"]),
    ("run {ws} --backend ray --actors 0", ["--actors", "'auto' or an int in [1, inf)"]),
    ("run {ws} --address 127.0.0.1:6379", ["--address only applies to --backend ray"]),
    ("run {ws} --method tsne", ["--method", "'umap', 'pca'"]),
    ("run {ws} --seed -5", ["--seed", "[0, 4294967295]"]),
    ("run {ws} --batch-size -1", ["--batch-size", "'auto' or an int in [1, inf)"]),
    ("run {ws} --format bogus", ["--format", "one of 'reben'"]),
    ("run {ws} --source {src}", ["--source needs --format"]),
    ("run {ws} --param dim=3", ["--param dim", f"the {DEFAULT} encoder has no parameter dim"]),
    ("run {ws} --encoder spectral --param dim=3", ["--param dim", "spectral encoder has no parameter dim"]),
    ("run {ws} --encoder sift", ["--encoder", "one of 'auto', 'galileo'"]),
    # report
    ("report", ["missing argument WORKSPACE"]),
    ("report {ws} --k 3", ["eomine report has no option --k"]),
    ("report {ws} --json=1", ["--json", "does not take a value"]),
    # score
    ("score {ws} --model-weight 2", ["--model-weight must be 'auto' or a float in [0, 1], got '2'"]),
    ("score {ws} --model-weight automatic", ["--model-weight", "'auto' or a float in [0, 1]"]),
    ("score {ws} --prior-weight 1.5", ["--prior-weight", "a float in [0, 1]"]),
    ("score {ws} --folds 1", ["--folds must be an int in [2, inf), got '1'"]),
    ("score {ws} --folds 2.5", ["--folds", "[2, inf)"]),
    ("score {ws} --flag-threshold 0", ["--flag-threshold", "a float in (0, 1]"]),
    ("score {ws} --flag-threshold 1.1", ["--flag-threshold", "(0, 1]"]),
    ("score {ws} --outlier-weight -0.1", ["--outlier-weight", "[0, 1]"]),
    ("score {ws} --missing-start 0", ["--missing-start", "a float in (0, 1]"]),
    ("score {ws} --missing-gain 0", ["--missing-gain", "a float in (0, inf)"]),
    ("score {ws} --missing-gain inf", ["--missing-gain", "(0, inf)"]),
    ("score {ws} --refine -1", ["--refine", "an int in [0, inf)"]),
    ("score {ws} --seed -1", ["--seed", "[0, 4294967295]"]),
    ("score {ws} --backend dask", ["--backend", "one of 'local', 'ray'"]),
    ("score {ws} --backend ray --actors -1", ["--actors must be 'auto' or an int in [1, inf), got '-1'"]),
    ("score {ws} --address ray://head:10001", ["--address only applies to --backend ray"]),
    ("score {ws} --backend ray --address head", ["--address", "HOST:PORT, ray://HOST:PORT or auto"]),
    # serve (never starts a server)
    ("serve {ws} --port 99999", ["--port must be an int in [1, 65535], got '99999'"]),
    ("serve {ws} --log postgresql://ana:s3cret@127.0.0.1:1/db", ["cannot reach the edit log",
                                                                 "postgresql://ana:***@127.0.0.1:1/db"]),
    ("serve {ws} --port 0", ["--port", "[1, 65535]"]),
    ("serve {ws} --port http", ["--port", "[1, 65535]"]),
    (["serve", "{ws}", "--host", "bad host"], ["--host must be an IP address or a host name, got 'bad host'"]),
    ("serve {ws} --host 0.0.0.0", ["refusing to bind 0.0.0.0", "--auth"]),
    ("serve {ws} --auth env:EOMINE_TEST_UNSET_VAR", ["--auth", "EOMINE_TEST_UNSET_VAR is not set"]),
    ("serve {ws} --confirm-above -1", ["--confirm-above must be an int in [0, inf), got '-1'"]),
    # export
    ("export {ws} --format xml --out {out}", ["--format", "one of 'parquet', 'csv', 'reben', 'geoparquet'"]),
    ("export {ws} --format csv", ["missing option --out"]),
    ("export {ws} --format labelmap --out {out} --pixel 0", ["--pixel must be a float in (0, inf), got '0'"]),
    ("export {ws} --format csv --out {out} --predicted", ["--predicted only applies to --format labelmap"]),
    ("export {ws} --out {out}", ["missing option --format", "parquet, csv, reben, geoparquet"]),
    ("export {ws} --format reben-layout --out {out} --pixel 10", ["--pixel only applies to --format labelmap"]),
    ("export {ws} --format reben-layout --out {out}", ["reben-layout needs reBEN's pixel grid", "s2_10m of 60 px"]),
    ("export {ws} --format eurosat-layout --out {out}", ["eurosat-layout is single-label"]),
    ("export {ws} --format parquet --out {out} --log file.sqlite", ["--log must be 'sqlite'", "got 'file.sqlite'"]),
    # log migrate
    ("log migrate {ws}", ["missing option --to"]),
    ("log migrate {ws} --to sqlite", ["--to sqlite needs --from postgresql://... (or $EOMINE_LOG)"]),
    ("log migrate {ws} --to mysql://h/db", ["--to must be 'sqlite' or a postgresql:// URL", "got 'mysql://h/db'"]),
    ("log migrate {ws} --to postgresql://h/db --from sqlite:x", ["--from must be 'sqlite' or a postgresql://"]),
    ("log migrate {ws} --to postgresql://u:pw@127.0.0.1:1/db", ["has no edit log in sqlite to migrate"]),
    ("log migrate {ws} --to sqlite --from postgresql://u:pw@127.0.0.1:1/db", ["cannot reach the edit log",
                                                                              "postgresql://u:***@127.0.0.1:1/db"]),
    # learn
    ("learn {ws} --batch 0", ["--batch must be an int in [1, inf), got '0'"]),
    ("learn {ws} --rounds 0", ["--rounds must be an int in [1, 10000], got '0'"]),
    ("learn {ws} --check -5", ["--check must be an int in [0, inf), got '-5'"]),
    ("learn {ws} --min-distance-km -1", ["--min-distance-km must be a float in [0, inf), got '-1'"]),
    ("learn {ws} --seed -1", ["--seed", "an int in [0, 4294967295]"]),
    ("learn {ws} --strategy best", ["--strategy must be one of 'auto', 'random'", "got 'best'"]),
    ("learn {ws} --oracle person", ["--oracle must be 'catalog', got 'person'"]),
    ("learn {ws} --target Nowhere", ["--target 'Nowhere' is not a class of"]),
    ("learn {ws} --rounds 2", ["--rounds > 1 needs --oracle"]),
    ("learn {ws} --log postgres://", ["--log must be 'sqlite' or a postgresql:// URL"]),
    # audit
    ("audit {ws} --duplicate-distance -1", ["--duplicate-distance must be a float in [0, inf), got '-1'"]),
    ("audit {ws} --split-table {out}", ["split table not found"]),
    # split
    ("split {ws} --log sqlite3", ["--log must be 'sqlite' or a postgresql:// URL", "got 'sqlite3'"]),
    ("split {ws} --ratios 0.5,0.6", ["--ratios must be 2 or 3 positive shares summing to 1", "got '0.5,0.6'"]),
    ("split {ws} --ratios a,b", ["--ratios must be 2 or 3 positive shares", "got 'a,b'"]),
    ("split {ws} --block-widths 0", ["--block-widths must be a float in [1, inf), got '0'"]),
    ("split {ws} --buffer-widths 0.5", ["--buffer-widths must be a float in [1, inf), got '0.5'"]),
    ("split {ws} --method kmeans", ["--method must be one of 'geographic', 'random'", "got 'kmeans'"]),
    ("split {ws} --seed -1", ["--seed", "an int in [0, 4294967295]"]),
    # undo / redo
    ("undo {ws} --batch 0", ["--batch must be an int in [1, inf), got '0'"]),
    ("undo {ws} --log postgresql://h", ["--log must be 'sqlite' or a postgresql:// URL", "got 'postgresql://h'"]),
    ("redo {ws} --log postgresql://h/db?schema=A-B", ["--log must be", "got 'postgresql://h/db?schema=A-B'"]),
    ("undo {ws}", ["nothing to undo"]),
    ("redo {ws} --batch -2", ["--batch must be an int in [1, inf), got '-2'"]),
    ("redo {ws} --batch 7", ["nothing to redo", "has no edits yet"]),
    # history
    ("history", ["missing argument WORKSPACE"]),
    ("history {ws} --log mysql://ana:pw@h/db", ["--log must be 'sqlite' or a postgresql:// URL",
                                                 "got 'mysql://ana:***@h/db'"]),
    ("history {ws} --log postgresql://ana:pw@127.0.0.1:1/db", ["cannot reach the edit log",
                                                               "postgresql://ana:***@127.0.0.1:1/db"]),
    ("history {ws} --patches x", ["eomine history has no option --patches; did you mean --patch?"]),
    ("history {ws} --patch", ["option '--patch' requires an argument"]),
    # tour
    ("tour {ws} --export {out} --steps 1", ["--steps must be an int in [2, 1000], got '1'"]),
    ("tour {ws} --export {out} --steps 1001", ["--steps", "[2, 1000]"]),
    ("tour {ws} --export {out} --size 8", ["--size", "an int in [16, 768]"]),
    ("tour {ws} --export {out} --size 1000", ["--size", "[16, 768]"]),
    ("tour {ws} --export {out} --interval 0", ["--interval", "a float in [0.2, 60]"]),
    ("tour {ws} --export {out} --interval 61", ["--interval", "[0.2, 60]"]),
    ("tour {ws} --export {out} --max-run 0", ["--max-run", "an int in [1, inf)"]),
    ("tour {ws} --export {out} --seed -1", ["--seed", "[0, 4294967295]"]),
    ("tour {ws} --export {out} --strategy spiral", ["--strategy", "one of 'random', 'grand', 'boundary', 'class'"]),
    ("tour {ws} --export {out} --by season", ["--by", "one of 'class', 'cluster'"]),
    ("tour {ws} --export {out} -c infrared", ["--composite", "'true_color'"]),
    ("tour {ws} --strategy grand", ["missing option --export"]),
    ("tour {ws} --export {out} --start NOPE_1", ["NOPE_1"]),
    ("tour {ws} --export {out} --strategy class", ["--label"]),
]


@pytest.fixture(scope="module")
def places(small_ws, tmp_path_factory):
    from mining.workspace import Workspace

    tmp = tmp_path_factory.mktemp("errors")
    return {"ws": str(small_ws), "pid": str(Workspace(small_ws).catalog["patch_id"].iat[0]),
            "out": str(tmp / "never-written.out"), "src": str(tmp / "no-source")}


def _args(case, places) -> list[str]:
    args = case.split() if isinstance(case, str) else case
    return [a.format(**places) for a in args]


def _check(stdout: str, stderr: str, code: int, words: list[str], places: dict) -> None:
    assert code == 2, (code, stdout, stderr)
    assert "Traceback" not in stdout + stderr
    assert stdout == "", stdout
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert "Usage:" not in stderr and "Try 'eomine" not in stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"
    assert not Path(places["out"]).exists()


@pytest.mark.parametrize("case, words", CASES, ids=[" ".join(c if isinstance(c, list) else c.split())[:60]
                                                    for c, _ in CASES])
def test_bad_option_is_one_error_line(case, words, places, monkeypatch):
    monkeypatch.delenv("EOMINE_TEST_UNSET_VAR", raising=False)
    res = CliRunner().invoke(main, _args(case, places))
    _check(res.stdout, res.stderr, res.exit_code, words, places)


def test_every_command_has_at_least_two_bad_cases():
    covered = {}
    for case, _ in CASES:
        name = (case.split() if isinstance(case, str) else case)[0]
        covered[name] = covered.get(name, 0) + 1
    assert set(covered) == set(main.commands)
    assert min(covered.values()) >= 2, covered


def test_every_numeric_option_is_declared_with_a_range_and_tested():
    tokens: dict[str, set[str]] = {}
    for case, _ in CASES:
        args = case.split() if isinstance(case, str) else case
        tokens.setdefault(args[0], set()).update(args[1:])
    for name, cmd in main.commands.items():
        for p in cmd.params:
            if not isinstance(p, click.Option) or p.is_flag:
                continue
            numeric = isinstance(p.default, int | float) and not isinstance(p.default, bool)
            if numeric or isinstance(p.type, Int | Float | Union):
                assert isinstance(p.type, Int | Float | Union), f"{name} {p.opts}: {p.type!r}"
                assert set(p.opts) & tokens[name], f"no bad case for {name} {p.opts[0]}"
            elif p.type is click.STRING:  # free text: ids, names, specs that are checked where they are used
                assert (name, p.name) in {("tour", "start"), ("tour", "label"), ("history", "patch_id"),
                                          ("embed", "arch"), ("run", "arch"), ("serve", "auth"),
                                          ("learn", "author"), ("learn", "target"), ("split", "author"),
                                          ("undo", "author"), ("redo", "author")}, (name, p.name)


def test_a_bad_edit_log_never_shows_its_password(places, monkeypatch):
    for args in (["history", places["ws"], "--log", "postgresql://ana:s3cret@127.0.0.1:1/db"],
                 ["history", places["ws"], "--log", "mysql://ana:s3cret@h/db"],
                 ["log", "migrate", places["ws"], "--to", "sqlite", "--from", "postgresql://ana:s3cret@127.0.0.1:1/d"]):
        res = CliRunner().invoke(main, args)
        assert res.exit_code == 2 and "s3cret" not in res.output and "***" in res.stderr, res.output
    monkeypatch.setenv("EOMINE_LOG", "postgresql://ana:s3cret@h")  # the environment's default, checked alike
    res = CliRunner().invoke(main, ["history", places["ws"]])
    assert res.exit_code == 2 and res.stderr.startswith("error: edit log URL 'postgresql://ana:***@h' must name")
    assert res.stderr.strip().endswith("(from EOMINE_LOG)")
    assert "s3cret" not in res.output


@pytest.mark.parametrize("case, words", [
    ("knn {ws} --k 0", ["--k must be an int in [1, inf), got '0'"]),
    ("knn {ws} --k 60", ["--k must be an int in [1, 59]"]),
    ("project {ws} --min-dist -1", ["--min-dist must be a float in [0, 1], got '-1'"]),
    ("serve {ws} --port 99999", ["--port must be an int in [1, 65535], got '99999'"]),
    ("serve {ws} --log postgresql://ana:s3cret@127.0.0.1:1/db", ["cannot reach the edit log",
                                                                 "postgresql://ana:***@127.0.0.1:1/db"]),
    ("score {ws} --nope", ["eomine score has no option --nope"]),
    ("tour {ws} --export {out} --strategy class", ["--label"]),
])
def test_bad_option_in_a_real_process(case, words, places):
    proc = subprocess.run([sys.executable, "-m", "eomine.cli", *_args(case, places)], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    _check(proc.stdout, proc.stderr, proc.returncode, words, places)


@pytest.mark.parametrize("args, word", [(["--help"], "Commands:"), (["-h"], "Commands:"),
                                        (["--version"], "eomine, version"), (["knn", "-h"], "--k INTEGER RANGE"),
                                        (["score", "--help"], "--model-weight")])
def test_help_and_version_exit_0(args, word):
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0 and word in res.stdout and res.stderr == "", res.output
    proc = subprocess.run([sys.executable, "-m", "eomine.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)
    assert proc.returncode == 0 and word in proc.stdout and proc.stderr == "", proc.stderr


def test_error_line_of_each_kind():
    assert error_line(ParameterError("k", "an int in [1, inf)", 0, owner="KNNGraph")) == \
        "error: --k must be an int in [1, inf), got 0"
    assert error_line(ParameterError("dim", "an int in [1, inf)", -1, owner="SSLEncoder")) == \
        "error: --param dim must be an int in [1, inf), got -1"
    assert error_line(ParameterError("path", "a path", None, owner="ImportedEmbeddings")) == \
        "error: --from must be a path, got None"
    # a parameter no option sets keeps its Python name and owner
    assert error_line(ParameterError("exact_max_n", "an int in [0, inf)", -1, owner="KNNGraph")) == \
        "error: KNNGraph: exact_max_n must be an int in [0, inf), got -1"
    assert error_line(click.ClickException("Two\nlines.")) == "error: two lines"
    assert error_line(click.Abort()) == "error: aborted"
