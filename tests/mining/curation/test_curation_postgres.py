"""The PostgreSQL storage of the curation log beyond the shared contract (``test_curation_sqlite.py`` runs that
on both): URLs and their errors, one database holding several workspaces' logs, the build and format checks, a
log dropped while in use, and the migration SQLite -> PostgreSQL -> SQLite, compared column by column. Every
test runs on a real server (``postgres_url``: ``$EOMINE_TEST_POSTGRES`` or a temporary cluster)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import psycopg
import pytest
from click.testing import CliRunner
from test_curation_sqlite import C, make_ws

from eomine.cli import main
from mining.curation import Edit, EditLog, PostgresEditLog, log_url, migrate_log, open_log
from mining.errors import DataError, WorkspaceError


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return make_ws(tmp_path_factory.mktemp("tpl") / "ws", 3_000)


@pytest.fixture
def ws(template, tmp_path) -> Path:
    out = tmp_path / "ws"
    shutil.copytree(template, out)
    return out


def _schema(url: str) -> str:
    return url.rsplit("schema=", 1)[1]


def _history(log) -> None:
    """Every kind of batch and field: notes, sources, request ids, undo / redo targets, a set, a split."""
    log.commit([Edit("P000001", "add", C[0]), Edit("P000002", "set", labels=(C[3], C[1]))], author="ana",
               note="towns", source="review", request_id="req-1")
    log.commit([Edit(f"P{i:06d}", "flag") for i in range(10, 400)], author="bo", note="cloudy")
    log.commit([Edit("P000003", "split", "test"), Edit("P000004", "confirm"), Edit("P000005", "exclude")],
               author="cy", source="split:random")
    log.undo(author="bo", request_id="undo-1")
    log.redo(author="bo")
    log.undo()
    log.commit([Edit("P000001", "remove", C[0])], author="ana", request_id="req-2")


def _same_labels(a, b) -> None:
    ca, cb = a.current_labels(), b.current_labels()
    assert ca.version == cb.version
    for attr in ("Y", "flagged", "excluded", "confirmed", "decided", "split"):
        assert np.array_equal(getattr(ca, attr), getattr(cb, attr)), attr


# --------------------------------------------------------------------------------------------- URLs
def test_bad_urls_are_one_clear_error_naming_the_url_without_its_password(ws, postgres_url):
    with pytest.raises(DataError, match=r"'mysql://u:\*\*\*@h/db'.*neither 'sqlite' nor a postgresql:// URL"):
        open_log(ws, "mysql://u:secret@h/db")
    with pytest.raises(DataError, match="must name a host and a database"):
        open_log(ws, "postgresql://127.0.0.1")
    with pytest.raises(DataError, match="schema 'Bad-Name' must be a lower-case SQL name"):
        open_log(ws, "postgresql://h/db?schema=Bad-Name")
    with pytest.raises(DataError, match="malformed"):
        open_log(ws, "postgresql://h:port/db")
    # nothing listens on port 1: refused at once, the password masked
    with pytest.raises(WorkspaceError) as err:
        open_log(ws, "postgresql://ana:s3cret@127.0.0.1:1/eomine")
    msg = str(err.value)
    assert msg.startswith("cannot reach the edit log postgresql://ana:***@127.0.0.1:1/eomine")
    assert "s3cret" not in msg and "\n" not in msg
    # a wrong login on the real server
    bad = postgres_url.replace("eomine@", "nobody:pw@", 1)
    with pytest.raises(WorkspaceError, match=r"nobody:\*\*\*@.*nobody"):
        open_log(ws, bad)


def test_eomine_log_picks_the_storage_and_sqlite_overrides_it(ws, postgres_url, monkeypatch):
    monkeypatch.setenv("EOMINE_LOG", postgres_url)
    assert isinstance(open_log(ws), PostgresEditLog)
    assert not (ws / "edits.sqlite").exists()  # the shared log only: nothing written in the workspace
    assert isinstance(open_log(ws, "sqlite"), EditLog)
    monkeypatch.setenv("EOMINE_LOG", "sqlite")
    assert isinstance(open_log(ws), EditLog)
    monkeypatch.setenv("EOMINE_LOG", "/some/file.sqlite")
    with pytest.raises(DataError, match=r"'/some/file.sqlite' \(from EOMINE_LOG\) is neither"):
        log_url()
    monkeypatch.delenv("EOMINE_LOG")
    assert log_url() == "sqlite" and log_url("SQLite") == "sqlite"


# --------------------------------------------------------------------------------------------- one database
def test_one_database_holds_the_logs_of_several_workspaces(template, tmp_path, postgres_server):
    """Workspaces of other datasets get schemas of their own (eomine_<dataset>); another build of a dataset
    whose log is there is refused, and ?schema= gives it a log of its own."""
    a = make_ws(tmp_path / "a", 50, seed=1)
    b = make_ws(tmp_path / "b", 50, seed=2)
    for ws, name in ((a, "alpha"), (b, "beta")):
        meta = json.loads((ws / "workspace.json").read_text())
        meta["dataset"] = f"{name}-{tmp_path.name}"
        (ws / "workspace.json").write_text(json.dumps(meta))
    la, lb = open_log(a, postgres_server), open_log(b, postgres_server)
    assert la.schema_ != lb.schema_ and la.schema_.startswith("eomine_alpha_")
    la.commit([Edit("P000001", "flag")], author="ana")
    lb.commit([Edit("P000002", "exclude")], author="bo")
    lb.commit([Edit("P000003", "exclude")], author="bo")
    assert (la.version(), lb.version()) == (1, 2)
    assert la.current_labels().flagged.sum() == 1 and not la.current_labels().excluded.any()
    # a rebuild of alpha (same dataset, new workspace.json "created") is refused, nothing written
    shutil.rmtree(a)
    a2 = make_ws(tmp_path / "a", 50, seed=1)
    meta = json.loads((a2 / "workspace.json").read_text())
    meta.update(dataset=f"alpha-{tmp_path.name}", created="2031-01-01T00:00:00+00:00")
    (a2 / "workspace.json").write_text(json.dumps(meta))
    with pytest.raises(WorkspaceError, match=r"belongs to another build.*\?schema=NAME"):
        open_log(a2, postgres_server)
    own = open_log(a2, f"{postgres_server}?schema={la.schema_}_v2")
    assert own.version() == 0 and la.version() == 1
    for log in (la, lb):
        with psycopg.connect(postgres_server, autocommit=True) as con:
            con.execute(f"DROP SCHEMA {log.schema_} CASCADE")
    with psycopg.connect(postgres_server, autocommit=True) as con:
        con.execute(f"DROP SCHEMA {own.schema_} CASCADE")


def test_a_log_of_another_format_version_is_refused(ws, postgres_url):
    open_log(ws, postgres_url).commit([Edit("P000001", "flag")], author="ana")
    with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as con:
        con.execute(f"UPDATE {_schema(postgres_url)}.meta SET value = '9' WHERE key = 'version'")
    with pytest.raises(WorkspaceError, match="format version '9' is not supported"):
        open_log(ws, postgres_url)


def test_a_log_dropped_while_in_use_is_a_clear_error_never_a_silent_reset(ws, postgres_url):
    log = open_log(ws, postgres_url, create="on_write")
    log.commit([Edit("P000001", "flag")], author="ana")
    with psycopg.connect(postgres_url.split("?")[0], autocommit=True) as con:
        con.execute(f"DROP SCHEMA {_schema(postgres_url)} CASCADE")
    with pytest.raises(WorkspaceError, match="deleted while in use"):
        log.commit([Edit("P000002", "flag")], author="ana")
    with pytest.raises(WorkspaceError, match="deleted while in use"):
        log.version()


# --------------------------------------------------------------------------------------------- migration
def test_migrate_sqlite_to_postgresql_and_back_loses_no_event(ws, tmp_path, postgres_url):
    src = EditLog(ws)
    _history(src)
    want_b, want_e = src._dump()
    assert len(want_b) == 7 and len(want_e) > 390
    # SQLite -> PostgreSQL, through the command line
    res = CliRunner().invoke(main, ["log", "migrate", str(ws), "--to", postgres_url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (out["batches"], out["events"], out["version"]) == (7, len(want_e), 7)
    pg = open_log(ws, postgres_url)
    got_b, got_e = pg._dump()
    assert got_b == want_b and got_e == want_e  # every column of every batch and event, ids included
    _same_labels(src, pg)
    assert pg.batch_info(4).message() == src.batch_info(4).message()
    # the migrated log goes on: new ids follow, request ids still refuse repeats
    assert pg.commit([Edit("P000009", "keep")], author="dee") == 8
    with pytest.raises(DataError, match="req-1"):
        pg.commit([Edit("P000009", "flag")], author="dee", request_id="req-1")
    # a non-empty target is refused without --overwrite, and left as it was
    res = CliRunner().invoke(main, ["log", "migrate", str(ws), "--to", postgres_url])
    assert res.exit_code == 2 and "already holds 8 batches; pass --overwrite" in res.stderr
    assert "\n" not in res.stderr.strip() and pg.version() == 8
    # PostgreSQL -> SQLite, into a copy of the workspace without a log
    back = tmp_path / "back"
    shutil.copytree(ws, back, ignore=shutil.ignore_patterns("edits.*"))
    res = migrate_log(back, postgres_url, "sqlite")
    assert (res["batches"], res["version"]) == (8, 8)
    again = EditLog(back)
    assert again._dump() == pg._dump()
    _same_labels(again, pg)
    assert again.commit([Edit("P000010", "flag")], author="ed") == 9
    # --overwrite replaces the target's batches (and the ids start again from the source's)
    res = CliRunner().invoke(main, ["log", "migrate", str(back), "--to", "sqlite", "--from", postgres_url,
                                    "--overwrite"])
    assert res.exit_code == 0, res.output
    assert "copied 8 batches" in res.stdout and "***" not in postgres_url
    assert EditLog(back)._dump() == pg._dump()
    assert EditLog(back).commit([Edit("P000011", "flag")], author="ed") == 9


def test_migrate_refuses_what_makes_no_sense(ws, postgres_url):
    with pytest.raises(DataError, match="has no edit log in sqlite"):
        migrate_log(ws, "sqlite", postgres_url)
    with pytest.raises(DataError, match="same log"):
        migrate_log(ws, postgres_url, postgres_url)
