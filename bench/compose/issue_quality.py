"""Issue quality: a 30-article week from OrangeSum pages, built and judged by mailcheck.

    .venv/bin/python bench/compose/issue_quality.py /work/shared/data/orangesum [--work DIR]
        [--mailcheck ~/.local/share/mailcheck/mailcheck] [--count 30]

Writes DIR/articles/*.md (title, canonical URL, section, author, image and the abstract
as standfirst, from the first COUNT pages of html/expected.jsonl, dated into 2025-W04),
DIR/digest.toml, builds the week with `digest build`, runs `digest check`, then mailcheck
on DIR/out/preview.eml, and prints one summary line per measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

WEEK = "2025-W04"
MONDAY = dt.datetime(2025, 1, 20, 7, 0)
_META = re.compile(r'<meta content="([^"]*)" property="([^"]+)"')


def page_meta(page: str) -> dict[str, str]:
    """The og:/article: properties of an OrangeSum page."""
    return {prop: html.unescape(value) for value, prop in _META.findall(page)}


def write_articles(data: Path, folder: Path, count: int) -> int:
    """The first ``count`` pages as Markdown articles with front matter."""
    folder.mkdir(parents=True)
    lines = (data / "html" / "expected.jsonl").read_text(encoding="utf-8").splitlines()
    written = 0
    for line in lines[:count]:
        record = json.loads(line)
        meta = page_meta((data / "html" / f"{record['id']}.html").read_text(encoding="utf-8"))
        image = meta.get("og:image", "").replace("http://", "https://", 1)
        published = MONDAY + dt.timedelta(hours=5 * written)
        front = {
            "title": record["title"],
            "url": meta.get("og:url", ""),
            "date": published.isoformat() + "+01:00",
            "section": meta.get("article:section", ""),
            "author": "Orange avec AFP",
            "image": image,
            "standfirst": record["heading"],
        }
        body = "\n".join(f"{key}: {value}" for key, value in front.items() if value)
        (folder / f"{record['id']}.md").write_text(
            f"---\n{body}\n---\n\n{record['article']}\n", encoding="utf-8"
        )
        written += 1
    return written


CONFIG = """\
preview_recipients = ["redaction@toujours-plus.example"]

[newsletter]
name = "Toujours+"
from_address = "lettre@toujours-plus.example"
from_name = "Toujours+, la lettre de la semaine"
publisher = "Toujours+ Rédaction"
publisher_address = "12 rue des Archives, 75004 Paris, France"
web_base_url = "https://toujours-plus.example"
unsubscribe_mailto = "desinscription@toujours-plus.example"
social_links = [{ name = "Mastodon", url = "https://piaille.fr/@toujoursplus" }]

[[sources]]
name = "OrangeSum"
kind = "folder"
path = "articles"

[composition]
sections = ["France", "Monde", "Politique", "Économie", "Culture", "Sports"]
editor_note_path = "note.md"
editor_signature = "Camille Martin"
editor_role = "rédactrice en chef"

[database]
url = "sqlite:///ledger.db"
"""

NOTE = """Chères lectrices, chers lecteurs,

Trente articles cette semaine : l'actualité en France et dans le monde, résumée en
quelques lignes pour aller à l'essentiel. Bonne lecture !
"""


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DIGEST_SECRET_KEY": "bench-secret-key-not-for-production"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="the OrangeSum folder")
    parser.add_argument("--work", type=Path, default=Path("bench-compose-work"))
    parser.add_argument("--count", type=int, default=30)
    parser.add_argument(
        "--mailcheck", type=Path, default=Path.home() / ".local/share/mailcheck/mailcheck"
    )
    args = parser.parse_args()
    work = args.work.resolve()
    shutil.rmtree(work, ignore_errors=True)
    count = write_articles(args.data, work / "articles", args.count)
    (work / "digest.toml").write_text(CONFIG, encoding="utf-8")
    (work / "note.md").write_text(NOTE, encoding="utf-8")
    digest = [str(Path(sys.executable).parent / "digest"), "--config", "digest.toml"]
    built = run([*digest, "build", "--week", WEEK, "--out", "out"], work)
    print(built.stdout + built.stderr, end="")
    if built.returncode != 0:
        return built.returncode
    checked = run([*digest, "check", "--week", WEEK], work)
    print(checked.stdout + checked.stderr, end="")
    out = work / "out"
    html_part = (out / "issue.html").read_text(encoding="utf-8")
    print(
        f"articles written: {count}; "
        f"web version issue.html: {len(html_part.encode()) / 1024:.1f} KiB"
    )
    judged = run(
        [str(args.mailcheck), str(out / "preview.eml"), "--out", str(work / "mailcheck")], work
    )
    verdict = [line for line in judged.stdout.splitlines() if line.startswith("VERDICT")]
    print("\n".join(verdict) or judged.stdout + judged.stderr)
    report = work / "mailcheck" / "preview" / "report.json"
    if report.is_file():
        data = json.loads(report.read_text(encoding="utf-8"))
        sa = data.get("checks", {}).get("spamassassin", {})
        print("spamassassin:", json.dumps(sa.get("details", sa), ensure_ascii=False)[:600])
    return 0


if __name__ == "__main__":
    sys.exit(main())
