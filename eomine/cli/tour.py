"""``eomine tour``: a tour through the kNN graph, exported as an offline HTML player (and optionally a GIF)."""

from __future__ import annotations

from pathlib import Path

import click

from mining._internal.validation import Interval
from mining.composites import COMPOSITES
from mining.tour_export import HTML_SIZE, INTERVAL
from mining.tours import Tour

from ._options import Choice, Int, option_type, range_type, seed_option, workspace_argument

__all__ = ["tour_cmd", "STEPS"]

#: stops of an exported tour: as in the dashboard (dashboard/panels/tour.py, MAX_STEPS); the player inlines
#: one image per stop
STEPS = Interval(int, 2, 1000)


@click.command("tour")
@workspace_argument()
@click.option("--strategy", type=option_type(Tour, "strategy"), default="random", show_default=True,
              help="random walk, grand tour, class-border tour, or a tour within one class.")
@click.option("--start", "start", default=None, help="Patch id of the first stop (default: chosen by the seed).")
@click.option("--steps", default=50, show_default=True, type=Int(STEPS),
              help="Stops (grand tour by cluster: the number of clusters; by class: ignored).")
@click.option("--label", default=None, help="class: the class to tour.")
@click.option("--by", type=option_type(Tour, "by"), default="class", show_default=True,
              help="grand: one stop per class or per cluster of the 2-D layout.")
@seed_option(Tour)
@click.option("--max-run", default=25, show_default=True, type=option_type(Tour, "max_run"),
              help="random/boundary: teleport after this many steps.")
@click.option("--export", "export", required=True, type=click.Path(path_type=Path),
              help="Self-contained HTML player to write (plays offline).")
@click.option("--gif", type=click.Path(path_type=Path), help="Also write an animated GIF.")
@click.option("-c", "--composite", default="true_color", show_default=True, type=Choice(list(COMPOSITES)),
              help="Band composite of the images.")
@click.option("--size", default=384, show_default=True, type=range_type(HTML_SIZE),
              help="Image size in the HTML (pixels).")
@click.option("--interval", default=2.0, show_default=True, type=range_type(INTERVAL),
              help="Seconds per stop when playing.")
def tour_cmd(workspace, strategy, start, steps, label, by, seed, max_run, export, gif, composite, size, interval):
    """A tour through the kNN graph, exported as an offline HTML player (and optionally a GIF)."""
    from mining.tour_export import export_gif, export_html
    from mining.tours import TourGraph
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    graph = TourGraph.from_workspace(ws)
    tour = Tour(strategy, steps=steps, start=start, label=label, seed=seed, by=by, max_run=max_run).fit(graph)
    out = export_html(tour, ws, export, composite=composite, size=size, interval=interval)
    jumps = int(tour.jumps_[1:].sum())
    click.echo(f"tour     {len(tour.rows_)} stops ({strategy}, seed {seed}, {jumps} jumps) computed in "
               f"{tour.seconds_ * 1e3:.0f} ms -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
    if gif:
        g = export_gif(tour, ws, gif, composite=composite, interval=min(interval, 5.0))
        click.echo(f"gif      -> {g} ({g.stat().st_size / 1e6:.1f} MB)")
