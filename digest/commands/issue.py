"""Commands that make the issue: build, gather, check, summarize, and the demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from digest.commands.base import (
    Context,
    load_saved,
    pass_context,
    run,
    utc_now,
    week_option,
)
from digest.commands.delivery import deliver_preview, report_preview
from digest.errors import DigestError
from digest.models import IsoWeek, SavedIssue
from digest.pipeline import (
    BuildResult,
    build_issue,
    write_build,
)
from digest.sources.gather import gather_articles
from digest.sources.health import describe_gather


@click.command()
@week_option
@click.option(
    "--out", type=click.Path(path_type=Path), help="Folder for the files (default out/WEEK)."
)
@pass_context
def build(ctx: Context, week: str | None, out: Path | None) -> None:
    """Build the week's issue, save it, and write issue.html/.txt/.json and preview.eml."""
    iso_week = ctx.week(week)
    result = build_and_write(ctx, iso_week, out or Path("out") / str(iso_week))
    click.echo(describe_build(result, out or Path("out") / str(iso_week)))
    _preview_again_if_previewed(ctx, result.saved)


def _preview_again_if_previewed(ctx: Context, saved: SavedIssue) -> None:
    """A rebuild after a preview (the note was fixed) goes to the editors again."""
    recipients = ctx.settings.preview_recipients
    ledger = ctx.ledger()
    try:
        previewed = ledger.week_state(saved.newsletter, saved.week).previewed_at
    finally:
        ledger.close()
    if previewed is None or not recipients:
        return
    click.echo("The week had been previewed: sending the rebuilt issue to the editors.")
    report_preview(deliver_preview(ctx, saved, list(recipients)))


@click.command("gather")
@week_option
@pass_context
def gather_command(ctx: Context, week: str | None) -> None:
    """Gather the week's articles and print a table per source (nothing is saved)."""
    iso_week = ctx.week(week)
    settings = ctx.settings
    zone = settings.newsletter.zone
    result = run(gather_articles(settings.sources, iso_week, zone, utc_now(), settings.gather))
    click.echo(describe_gather(result, iso_week))


def build_and_write(ctx: Context, week: IsoWeek, out: Path) -> BuildResult:
    """Build and save the issue, then write its files into ``out``."""
    settings = ctx.settings
    secret = ctx.secret()
    ledger = ctx.ledger()
    try:
        now = utc_now()
        result = run(build_issue(settings, ledger, week, now))
    finally:
        ledger.close()
    write_build(result, settings, secret, out, now)
    return result


def describe_build(result: BuildResult, out: Path) -> str:
    """A short report of the build for a person."""
    lines = [
        f"Built {result.saved.newsletter} n°{result.saved.number} ({result.saved.week}): "
        f"{len(result.issue.stories)} articles -> {out}/"
    ]
    for report in result.gather.reports:
        lines.append(
            f"  source {report.source}: {report.items} items, {report.kept} kept, "
            f"{len(report.skipped)} skipped, {len(report.errors)} errors"
        )
        lines.extend(f"    error: {error}" for error in report.errors)
    lines.extend(f"  gather: {note}" for note in result.gather.notes)
    lines.extend(f"  summary skipped: {error}" for error in result.summary_errors)
    if result.summary_fallbacks:
        lines.append(
            f"  summaries: {len(result.summary_fallbacks)} written offline, "
            "the model's answer having failed"
        )
        lines.extend(f"    fallback: {reason}" for reason in result.summary_fallbacks)
    lines.extend(f"  note: {note}" for note in result.notes)
    lines.extend(f"  preflight {finding}" for finding in result.findings)
    return "\n".join(lines)


@click.command()
@week_option
@pass_context
def check(ctx: Context, week: str | None) -> None:
    """Preflight the saved issue: size, alt texts, links, text part, unsubscribe, subject."""
    from digest.preflight import check_issue, has_errors

    ledger = ctx.ledger()
    try:
        saved = load_saved(ctx, ledger, ctx.week(week))
    finally:
        ledger.close()
    budget = ctx.settings.composition.html_budget_kib * 1024
    findings = check_issue(saved.rendered, budget_bytes=budget)
    for finding in findings:
        click.echo(str(finding))
    size = len(saved.rendered.html.encode("utf-8")) / 1024
    click.echo(
        f"{saved.newsletter} n°{saved.number} ({saved.week}): {size:.1f} KiB of HTML, "
        f"{len(findings)} findings"
    )
    if has_errors(findings):
        raise DigestError(f"the issue of {saved.week} has preflight errors (see above)")


@click.command()
@click.option(
    "--dir",
    "workdir",
    type=click.Path(path_type=Path),
    default=Path("digest-demo"),
    show_default=True,
    help="Working folder of the demo (recreated each run).",
)
def demo(workdir: Path) -> None:
    """Run the weekly job on bundled articles and deliver it to a local mail catcher."""
    from digest.demo import run_demo

    result = run_demo(workdir.resolve(), utc_now())
    click.echo(describe_build(result.build, result.issue_dir))
    counts = ", ".join(f"{state} {n}" for state, n in result.report.counts)
    click.echo(f"Delivered to the local mail catcher: {counts}")
    click.echo(
        f"  the issue:          {result.issue_dir}/issue.html (and issue.txt, "
        "issue.json, preview.eml)"
    )
    click.echo(
        f"  the received mails: {result.mailbox}/ ({result.received} .eml files, "
        "each with an .html copy to open in a browser)"
    )
    click.echo(f"  the settings used:  {result.workdir / 'digest.toml'}")


@click.command()
@click.argument("source", required=False)
@click.option(
    "--jsonl",
    type=click.File("r", encoding="utf-8"),
    metavar="FILE",
    help="Batch mode: read lines {id, title, text} ('-' for stdin), "
    "write lines {id, summary} in the same order.",
)
@pass_context
def summarize(ctx: Context, source: str | None, jsonl: TextIO | None) -> None:
    """Print the summary of an article file or web page, or summarize a JSON Lines batch."""
    from digest.summary_io import is_web_address, summarize_file, summarize_jsonl, summarize_url

    summarizer_settings = ctx.settings.summarizer
    if jsonl is not None:
        failures = summarize_jsonl(jsonl, sys.stdout, summarizer_settings)
        if failures:
            raise DigestError(f"{failures} lines could not be summarized (see their 'error')")
        return
    if source is None:
        raise click.UsageError("give an article FILE or URL, or --jsonl -")
    if is_web_address(source):
        click.echo(summarize_url(source, summarizer_settings))
        return
    click.echo(summarize_file(Path(source), summarizer_settings, ctx.settings.newsletter.zone))
