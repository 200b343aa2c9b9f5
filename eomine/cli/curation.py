"""Commands of curation: ``export`` (labels after the edits), ``history`` (the edit log), ``undo`` / ``redo``,
``log migrate`` (the edit log from SQLite to PostgreSQL and back)."""

from __future__ import annotations

from pathlib import Path

import click

from mining._internal.validation import Interval
from mining.benchmark_export import LAYOUT_FORMATS
from mining.export import FORMATS

from ._options import Choice, Float, Int, LogLocation, json_option, log_option, workspace_argument

__all__ = ["export_cmd", "history_cmd", "undo_cmd", "redo_cmd", "log_group"]


@click.command("export")
@workspace_argument()
@click.option("--format", "fmt", required=True, type=Choice((*FORMATS, "labelmap", *LAYOUT_FORMATS)),
              help="parquet/csv: curated catalog; reben: reBEN-compatible metadata.parquet; geoparquet: footprints; "
                   "predictions: every patch's given / predicted labels after active learning; "
                   "labelmap: a GeoTIFF of the labels on the patches' grid (+ a CSV of the codes); "
                   "reben-layout / eurosat-layout: a new benchmark folder with the pixels, which "
                   "`eomine ingest --format reben / eurosat` reads back.")
@click.option("--out", required=True, type=click.Path(path_type=Path),
              help="File to write (history goes beside it); the folder to create for reben-layout / eurosat-layout.")
@click.option("--drop-excluded", is_flag=True,
              help="Leave excluded patches out (default: keep them, marked; the layouts always leave them out).")
@click.option("--pixel", type=Float(Interval(float, 0, None, closed="neither")), default=None,
              help="labelmap: pixel size in metres (default: one pixel per patch).")
@click.option("--predicted", is_flag=True,
              help="labelmap: map every patch's final labels (given, else predicted by active learning).")
@click.option("--overwrite", is_flag=True, help="Replace an existing export.")
@log_option
def export_cmd(workspace, fmt, out, drop_excluded, pixel, predicted, overwrite, log_url):
    """Export the labels after the edits, the curation state and the edit history (or a label map)."""
    from mining.curation import log_url as resolve_log
    from mining.export import export_workspace

    if fmt != "labelmap" and (pixel is not None or predicted):
        raise click.UsageError(f"{'--pixel' if pixel is not None else '--predicted'} only applies to --format labelmap")
    where = resolve_log(log_url)  # a bad $EOMINE_LOG is reported before anything is read
    if fmt == "labelmap":
        _label_map(workspace, out, pixel, predicted, overwrite, where)
        return
    if fmt in LAYOUT_FORMATS:
        _benchmark(workspace, fmt, out, overwrite, where)
        return

    card = export_workspace(workspace, fmt, out, drop_excluded=drop_excluded, overwrite=overwrite,
                            log=_open(workspace, where))
    click.echo(f"exported {card['n_rows']:,} patches to {out} ({card['n_changed']:,} relabelled, "
               f"{card['n_excluded']:,} excluded, {card['n_dropped']:,} dropped; edit log version "
               f"{card['edits_version']}); history: {card['n_events']:,} events in {card['history']}")


def _open(workspace, where: str, create: bool | str = False):
    from mining.curation import open_log

    return open_log(workspace, where, create=create)


def _benchmark(workspace, fmt, out, overwrite, where) -> None:
    from mining.benchmark_export import export_benchmark

    card = export_benchmark(workspace, fmt, out, overwrite=overwrite, progress=lambda p: click.echo(p, err=True),
                            log=_open(workspace, where))
    back = card["ingest"]
    back = f"read it back with: {back.replace('DIR', str(out))}" if back.startswith("eomine") else f"note: {back}"
    click.echo(f"exported {card['n_exported']:,} patches to {out} ({fmt}; {card['n_changed']:,} relabelled, "
               f"{card['n_excluded']:,} excluded patches left out; edit log version {card['edits_version']}); {back}")


def _label_map(workspace, out, pixel, predicted, overwrite, where) -> None:
    from mining.labelmap import write_label_map

    labels = None
    if predicted:
        from mining.labelling import LabellingSession
        from mining.workspace import Workspace

        ws = Workspace(workspace)
        df = LabellingSession(ws).predictions(_open(ws, where, create=True))
        labels = df["labels"].where(df["labelled"], df["predicted"]).set_axis(df["patch_id"])
    card = write_label_map(workspace, out, pixel=pixel, overwrite=overwrite, labels=labels,
                           log=None if labels is not None else _open(workspace, where))
    kind = "class codes" if card["single_label"] else f"{card['bands']} bands, one per class"
    click.echo(f"wrote {out} ({card['width']:,} x {card['height']:,} px, {kind}, {card['crs']}; "
               f"{card['n_labelled']:,} patches labelled) and {card['csv']}")


@click.command("history")
@workspace_argument()
@click.option("--patch", "patch_id", help="The events of one patch instead of the batches.")
@log_option
@json_option
def history_cmd(workspace, patch_id, log_url, as_json):
    """The edit batches (id, time, author, kind, patches, active, note), oldest first.

    An undo or redo names the batch it reverted (kind ``undo 3``; its note says what that batch did and who
    made it). A reviewer's confirmation reads "confirm" (stored as the op ``keep``; ``--json`` gives the
    stored records).
    """
    from mining.curation import op_name

    log = _open(workspace, log_url)
    df = log.events(patch_id=patch_id) if patch_id else log.batches()
    if as_json:
        click.echo(df.astype(object).where(df.notna(), None).to_json(orient="records", indent=1))
        return
    if df.empty:
        click.echo(f"no edits of {patch_id}" if patch_id else f"no edits in {workspace}")
        return
    if patch_id:
        for e in df.itertuples():
            lab = e.label if isinstance(e.label, str) else ""
            click.echo(f"{e.id:>7}  {e.time[:19]}  batch {e.batch:<5} {e.author:<16} {op_name(e.op):<8} {lab}  "
                       f"{e.note}")
        return
    click.echo(f"{'batch':>6}  {'time (UTC)':<19}  {'author':<16} {'kind':<10} {'patches':>8}  {'state':<7} note")
    for b in df.itertuples():
        kind = b.kind if b.kind == "edit" else f"{b.kind} {int(b.target)}"  # target: Int64, never "1.0"
        state = ("active" if b.active else "undone") if b.kind == "edit" else ""
        click.echo(f"{b.id:>6}  {b.time[:19]:<19}  {b.author[:16]:<16} {kind:<10} {b.n_events:>8,}  {state:<7} "
                   f"{b.note}{f'  [{b.source}]' if b.source not in ('app', '') else ''}")


def _undo_redo(kind: str, workspace, batch, author, log_url) -> None:
    from mining.curation import describe_ops

    log = _open(workspace, log_url)
    if not log.exists_:
        raise click.UsageError(f"nothing to {kind}: {workspace} has no edits yet")
    new = getattr(log, kind)(author=author, target=batch)
    if new is None:
        what = f"batch {batch}" if batch is not None else f"the latest {'active' if kind == 'undo' else 'undone'} batch"
        raise click.UsageError(f"nothing to {kind}: {what} is not an {'active' if kind == 'undo' else 'undone'} "
                               f"edit batch{f' of {author}' if author else ''} (see eomine history {workspace})")
    info = log.batch_info(new)
    rev = info.reverted
    click.echo(f"batch {new}: {kind} of batch {rev.id} by {rev.author} ({describe_ops(rev.ops)}"
               f"{'; ' + rev.note if rev.note else ''})")


@click.command("undo")
@workspace_argument()
@click.option("--batch", type=Int(Interval(int, 1, None)), default=None,
              help="The edit batch to undo (default: the latest active one).")
@click.option("--author", default=None, help="Undo the latest active batch of this author.")
@log_option
def undo_cmd(workspace, batch, author, log_url):
    """Undo an edit batch (a split, a relabelling, a labelling round...): it is recorded as an undo batch,
    and `eomine redo` brings it back."""
    _undo_redo("undo", workspace, batch, author, log_url)


@click.command("redo")
@workspace_argument()
@click.option("--batch", type=Int(Interval(int, 1, None)), default=None,
              help="The undone edit batch to redo (default: the latest undone one).")
@click.option("--author", default=None, help="Redo the latest undone batch of this author.")
@log_option
def redo_cmd(workspace, batch, author, log_url):
    """Redo an undone edit batch (unless edits were made since, for the latest one)."""
    _undo_redo("redo", workspace, batch, author, log_url)


@click.group("log")
def log_group():
    """Where the edit log is stored: WS/edits.sqlite (the default) or a PostgreSQL database that several
    servers share (`--log postgresql://...` or $EOMINE_LOG on every command)."""


@log_group.command("migrate")
@workspace_argument()
@click.option("--to", "target", required=True, type=LogLocation(),
              help="The log to write: postgresql://USER:PASSWORD@HOST:PORT/DB[?schema=NAME], or sqlite "
                   "(WS/edits.sqlite).")
@click.option("--from", "source", type=LogLocation(), default=None,
              help="The log to read (default: sqlite when --to is a URL; $EOMINE_LOG when --to is sqlite).")
@click.option("--overwrite", is_flag=True, help="Replace the batches a non-empty target holds.")
@json_option
def migrate_cmd(workspace, target, source, overwrite, as_json):
    """Copy the edit log of WORKSPACE, every batch and event with its id, time, author, note, source, request
    id and undo / redo target, to another storage; the counts are checked after the copy. The source is left
    as it was."""
    import json
    import os

    from mining.curation import LOG_ENV, migrate_log

    if source is None:
        if target != "sqlite":
            source = "sqlite"
        elif not os.environ.get(LOG_ENV, "").strip():
            raise click.UsageError(f"--to sqlite needs --from postgresql://... (or ${LOG_ENV})")
    res = migrate_log(workspace, source, target, overwrite=overwrite)
    if as_json:
        click.echo(json.dumps(res, indent=1))
        return
    click.echo(f"copied {res['batches']:,} batches and {res['events']:,} events (log version {res['version']}) "
               f"from {res['source']} to {res['target']}; counts checked")
