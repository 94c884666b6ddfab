"""The health table of a gather (``digest gather``): one row per source, then the reasons."""

from __future__ import annotations

from digest.models import GatherResult, IsoWeek

_HEADERS = ("source", "items", "kept", "skipped", "errors", "time")


def describe_gather(result: GatherResult, week: IsoWeek) -> str:
    """A table per source (items, kept, skipped, errors, time), then each reason on a line."""
    rows = [
        (
            report.source,
            str(report.items),
            str(report.kept),
            str(len(report.skipped)),
            str(len(report.errors)),
            f"{report.seconds:.2f}s",
        )
        for report in result.reports
    ]
    widths = [max(len(row[i]) for row in [_HEADERS, *rows]) for i in range(len(_HEADERS))]
    lines = [
        f"Week {week}: {len(result.articles)} articles kept from {len(result.reports)} sources",
        _row(_HEADERS, widths),
    ]
    lines.extend(_row(row, widths) for row in rows)
    for report in result.reports:
        lines.extend(f"  {report.source} error: {error}" for error in report.errors)
        lines.extend(f"  {report.source} skipped: {reason}" for reason in report.skipped)
    lines.extend(f"  note: {note}" for note in result.notes)
    if result.featured_url:
        lines.append(f"  featured (editorial file): {result.featured_url}")
    return "\n".join(lines)


def _row(cells: tuple[str, ...], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
    return "  ".join((first, *rest)).rstrip()
