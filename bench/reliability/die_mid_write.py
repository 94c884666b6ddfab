"""Run the digest command line, and SIGKILL it right after its Nth write statement.

The kill lands inside a transaction, after a write and before its commit: what the
database holds afterwards must be the last commit, whole (SQLite rolls the journal back).

    python bench/reliability/die_mid_write.py --after 120 -- --config digest.toml send
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_WRITES = ("INSERT", "UPDATE", "DELETE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--after", type=int, required=True, help="write statements before death")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="-- then digest's arguments")
    args = parser.parse_args()
    left = [args.after]

    @event.listens_for(Engine, "after_cursor_execute")
    def count(conn: Any, cursor: Any, statement: str, *rest: Any) -> None:
        if statement.lstrip().upper().startswith(_WRITES):
            left[0] -= 1
            if left[0] <= 0:
                os.kill(os.getpid(), signal.SIGKILL)

    from digest.cli import main as digest

    rest = args.args[1:] if args.args[:1] == ["--"] else args.args
    sys.exit(digest(rest))


if __name__ == "__main__":
    main()
