"""``eomine split``: assign train / validation / test, by spatial blocks or at random, as an undoable edit."""

from __future__ import annotations

import json

import click

from mining.splits import METHODS, SpatialSplitter

from ._options import Choice, Ratios, json_option, log_option, option_type, seed_option, workspace_argument

__all__ = ["split_cmd"]


@click.command("split")
@workspace_argument()
@click.option("--method", default="geographic", show_default=True, type=Choice(METHODS),
              help="geographic: whole spatial blocks per split and a buffer so no test patch touches a training "
                   "patch; random: patch by patch (for comparison).")
@click.option("--ratios", default="0.5,0.25,0.25", show_default=True, type=Ratios(),
              help="Shares of train,validation,test (or train,test).")
@click.option("--block-widths", default=None, type=option_type(SpatialSplitter, "block_widths"),
              help="Side of a spatial block, in patch widths (geographic; default: the largest of 32, 16, 8, 4, 2 "
                   "that makes at least 100 blocks).")
@click.option("--buffer-widths", default=1.0, show_default=True, type=option_type(SpatialSplitter, "buffer_widths"),
              help="Test patches within this many patch widths of a training patch move to validation "
                   "(geographic; 1: the touching ones).")
@click.option("--author", default="split", show_default=True, help="Who the edit log records.")
@click.option("--dry-run", is_flag=True, help="Report the split without writing it.")
@seed_option(SpatialSplitter)
@log_option
@json_option
def split_cmd(workspace, method, ratios, block_widths, buffer_widths, author, dry_run, seed, log_url, as_json):
    """Assign every patch (not excluded) to a split and write it as one batch of the edit log (undo it with
    `eomine undo` or the app's History tab, like any edit). Reports each split's share, the largest deviation
    of a split's class distribution from the whole, and the share of test patches touching a training patch."""
    from mining.curation import open_log
    from mining.splits import split_workspace
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    log = open_log(ws, log_url, create=not dry_run)
    sp, edits = split_workspace(ws, log, method=method, ratios=ratios, block_widths=block_widths,
                                buffer_widths=buffer_widths, seed=seed)
    rep = sp.report_
    classes = ws.nomenclature.classes
    worst = rep.loc[rep["max_deviation"].idxmax()] if len(rep) else None
    note = (f"{method} split {','.join(f'{r:g}' for r in ratios)} (seed {seed}"
            + (f", blocks of {sp.block_widths_:g} patch widths, buffer {buffer_widths:g}" if method == "geographic"
               else "") + ")")
    batch = None
    if edits and not dry_run:
        batch = log.commit(edits, author=author, note=note, source=f"split:{method}")
    if as_json:
        click.echo(json.dumps({"method": method, "ratios": list(ratios), "changed": len(edits), "batch": batch,
                               "blocks": sp.n_blocks_, "block_widths": sp.block_widths_, "buffer": int(sp.buffer_.sum()),
                               "max_deviation": sp.max_deviation_, "test_touching_train": sp.touching_,
                               "splits": rep.assign(worst_class=[classes[i] if i >= 0 else None
                                                                 for i in rep["worst_class"]]).to_dict("records")},
                              indent=1))
        return
    click.echo(f"{note}: {int(rep['n'].sum()):,} patches"
               + (f" in {sp.n_blocks_:,} blocks; {int(sp.buffer_.sum()):,} test patches next to training patches "
                  f"moved to {'validation' if 'validation' in sp.names_ else 'no split'} "
                  f"(within {buffer_widths:g} patch width{'s' if buffer_widths != 1 else ''})"
                  if method == "geographic" else ""))
    click.echo(f"{'split':<11} {'patches':>9} {'share':>7} {'asked':>7} {'max class dev.':>15}  worst class")
    for r in rep.itertuples():
        click.echo(f"{r.split:<11} {r.n:>9,} {r.share:>7.1%} {r.target:>7.1%} {r.max_deviation * 100:>12.1f} pp  "
                   f"{classes[r.worst_class] if r.worst_class >= 0 else '-'}")
    if worst is not None:
        click.echo(f"largest class deviation: {sp.max_deviation_ * 100:.1f} percentage points ({worst['split']})")
    touch = sp.touching_
    click.echo(f"test patches touching a training patch: {'-' if touch != touch else f'{touch:.1%}'}")
    empty = [r.split for r in rep.itertuples() if r.n == 0]
    if empty:
        click.echo(f"warning: split {', '.join(empty)} is empty: {sp.n_blocks_:,} block(s) of "
                   f"{sp.block_widths_:g} patch widths are too few (try a smaller --block-widths, or "
                   f"--method random)" if method == "geographic" else
                   f"warning: split {', '.join(empty)} is empty: too few patches", err=True)
    if dry_run:
        click.echo(f"dry run: {len(edits):,} patches would change split; nothing written")
    elif batch is None:
        click.echo("every patch already has this split; nothing written")
    else:
        click.echo(f"{len(edits):,} patches changed split: batch {batch} of the edit log (undo: "
                   f"eomine undo {ws.path}, or the app's History tab)")
