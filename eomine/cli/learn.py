"""``eomine learn``: active learning on the command line (the loop of the app's Label tab)."""

from __future__ import annotations

import json

import click

from mining._internal.validation import Interval
from mining.active import STRATEGIES, ActiveLearner

from ._options import Choice, Int, json_option, log_option, option_type, seed_option, workspace_argument

__all__ = ["learn_cmd"]


def _fmt(v, spec: str = ".3f") -> str:
    return "-" if v is None or v != v else format(v, spec)


@click.command("learn")
@workspace_argument()
@click.option("--strategy", default="auto", show_default=True, type=Choice(STRATEGIES),
              help="auto: cold (typical, diverse) while labels are few, then diverse (uncertain x diverse).")
@click.option("--batch", "batch_size", default=50, show_default=True, type=option_type(ActiveLearner, "batch_size"),
              help="Patches per batch.")
@click.option("--rounds", default=1, show_default=True, type=Int(Interval(int, 1, 10_000)),
              help="Rounds to run (with --oracle; without one, one batch is proposed).")
@click.option("--oracle", type=Choice(["catalog"]),
              help="Answer every query with the catalog's true labels (gt_labels / true_labels): a simulation.")
@click.option("--author", default=None, help="Who answers (default with --oracle: 'oracle').")
@click.option("--check", "check_size", default=200, show_default=True, type=Int(Interval(int, 0, None)),
              help="Size of the check set, drawn when the workspace's active-learning state is created.")
@click.option("--min-distance-km", type=option_type(ActiveLearner, "min_distance_km"), default=0.0,
              show_default=True, help="Least ground distance between patches of one batch and from labelled ones.")
@click.option("--class-balance", is_flag=True, help="Cap each predicted class's share of a batch.")
@click.option("--target", default=None, help="cascade: the class of interest.")
@seed_option(ActiveLearner)
@log_option
@json_option
def learn_cmd(workspace, strategy, batch_size, rounds, oracle, author, check_size, min_distance_km, class_balance,
              target, seed, log_url, as_json):
    """Refit the model on the labels given so far and propose the next batch to label.

    With --oracle catalog each batch is answered from the catalog's true labels (the check set first), for
    --rounds rounds: the learning curve of a simulated curator. Every answer is an edit-log batch (source
    learn:r<round>:<strategy>; undo with the app or `eomine undo`). Writes WS/active/predictions.parquet.
    """
    from mining.curation import open_log
    from mining.labelling import LabellingSession, oracle_labels, write_predictions
    from mining.workspace import Workspace

    ws = Workspace(workspace)
    if target is not None and target not in ws.nomenclature.classes:
        raise click.UsageError(f"--target {target!r} is not a class of {ws.nomenclature.name} (one of "
                               f"{', '.join(ws.nomenclature.classes)})")
    if oracle is None and rounds > 1:
        raise click.UsageError("--rounds > 1 needs --oracle (without one, label the proposed batch first)")
    session = LabellingSession(ws, check_size=check_size, seed=seed)
    log = open_log(ws, log_url)
    params = {"min_distance_km": min_distance_km, "class_balance": class_balance, "target": target}
    out = []
    if oracle:
        who = author or "oracle"
        truth = oracle_labels(ws)
        check = session.check_batch(log)
        if check.patch_ids:
            session.answer(log, check, {p: truth[p] for p in check.patch_ids}, author=who)
            if not as_json:
                click.echo(f"check set: {len(check.patch_ids):,} patches labelled by the oracle")
        if not as_json:
            click.echo(f"{'round':>5}  {'strategy':<8} {'labels':>7}  {'check acc [95% CI]':<22} "
                       f"{'macro-F1':>8}  {'agree':>6} {'kappa':>6}  {'seconds':>7}")
        single = bool(truth.map(len).eq(1).all())  # the oracle knows whether patches carry one label or several
        for _ in range(rounds):
            batch = session.next_batch(log, strategy=strategy, batch_size=batch_size, single_label=single, **params)
            rec = session.rounds[-1]
            out.append(_row(rec))
            if not as_json:
                _echo_row(rec)
            if not batch.patch_ids:
                break
            session.answer(log, batch, {p: truth[p] for p in batch.patch_ids}, author=who)
        df = write_predictions(session, log)
        rest = ~df["labelled"].to_numpy(bool)
        summary = _accuracy_on_rest(ws, df, truth, rest)
        if as_json:
            click.echo(json.dumps({"rounds": out, "unlabelled": summary}, indent=1))
        else:
            click.echo(f"labelled {int(df['labelled'].sum()):,} of {len(df):,} patches; predictions written to "
                       f"{ws.files.predictions}")
            if summary["n"]:
                click.echo(f"accuracy of the predictions on the {summary['n']:,} patches nobody labelled "
                           f"(oracle): {summary['accuracy']:.3f} (macro-F1 {_fmt(summary['macro_f1'])})")
        return
    batch = session.next_batch(log, strategy=strategy, batch_size=batch_size, **params)
    write_predictions(session, log)
    rec = session.rounds[-1]
    if as_json:
        click.echo(json.dumps({"round": _row(rec), "batch": [{"patch_id": p, "predicted": list(lab), "confidence": c}
                                                             for p, lab, c in zip(batch.patch_ids, batch.predicted,
                                                                                  batch.confidence, strict=True)]},
                              indent=1))
        return
    click.echo(f"round {batch.round} ({batch.strategy}): {len(batch.patch_ids)} patches to label "
               f"({rec['labels_given']:,} labelled so far; check accuracy {_fmt(rec['check'].get('accuracy'))} "
               f"on {rec['check'].get('n', 0)} patches)")
    for p, lab, c in zip(batch.patch_ids, batch.predicted, batch.confidence, strict=True):
        click.echo(f"  {p}  predicted: {', '.join(lab) or '-'} ({c:.2f})")
    click.echo(f"label them in the app (Label tab): eomine serve {ws.path}")


def _row(rec: dict) -> dict:
    c, s = rec.get("check", {}), rec.get("stability", {})
    return {"round": rec["round"], "strategy": rec["strategy"], "labels_given": rec["labels_given"],
            "asked": len(rec["asked"]), "accuracy": c.get("accuracy"), "low": c.get("low"), "high": c.get("high"),
            "macro_f1": c.get("macro_f1"), "n_check": c.get("n", 0), "agreement": s.get("agreement"),
            "kappa": s.get("kappa"), "seconds": rec.get("seconds", {}).get("round")}


def _echo_row(rec: dict) -> None:
    r = _row(rec)
    ci = f"{_fmt(r['accuracy'])} [{_fmt(r['low'])}, {_fmt(r['high'])}]" if r["n_check"] else "- (no check set)"
    click.echo(f"{r['round']:>5}  {r['strategy']:<8} {r['labels_given']:>7,}  {ci:<22} {_fmt(r['macro_f1']):>8}  "
               f"{_fmt(r['agreement'], '.2f'):>6} {_fmt(r['kappa'], '.2f'):>6}  {_fmt(r['seconds'], '.2f'):>7}")


def _accuracy_on_rest(ws, df, truth, rest) -> dict:
    """Accuracy of the predictions on the patches nobody labelled, against the oracle's labels."""
    from mining.active import evaluate
    from mining.quality import label_matrix

    classes = ws.nomenclature.classes
    if not rest.any():
        return {"n": 0, "accuracy": None, "macro_f1": None}
    yt = label_matrix(truth.loc[df["patch_id"][rest]].reset_index(drop=True), classes)
    yp = label_matrix(df["predicted"][rest].reset_index(drop=True), classes)
    single = bool((yt.sum(1) == 1).all())
    m = evaluate(yt, yp, single_label=single)
    return {"n": m["n"], "accuracy": m["accuracy"], "macro_f1": m["macro_f1"]}
