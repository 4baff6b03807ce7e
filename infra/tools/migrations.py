"""The migration files' format (infra/clickhouse/migrations/NNNN_name.sql), read by the runner
(migrate.py), the clustered variant (clustered.py), the data dictionary and the tests.

Statements are separated by a `;` at the end of a line. Directives (each on its own line), so that nothing is written twice:
- `-- @load-csv <table> <path relative to repo root>` posts that CSV file (with a header row) into
  the table, so reference data has one source: schemas/reference/.
- `-- @backfill <materialized view>` inserts into the view's target table what the view's own SELECT
  (earlier in the same file) returns today: a view only sees rows inserted after it exists, and the
  back-fill is generated from its one SELECT instead of a pasted copy.
- `-- @was <sha256>` names an earlier text of this file that created the same objects (a rewrite
  without copies, see COMPATIBILITY.md): a ledger holding that checksum is not an edit.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
FILE_RE = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
DIRECTIVE_RE = re.compile(r"^--\s*@load-csv\s+(\S+)\s+(\S+)\s*$")
BACKFILL_RE = re.compile(r"^--\s*@backfill\s+(\S+)\s*$")
WAS_RE = re.compile(r"^--\s*@was\s+([0-9a-f]{64})\s*$")
MV_RE = re.compile(
    r"^CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?(\S+)\s+TO\s+(\S+)\s+AS\s+(.*)$", re.S | re.I
)


class Step:
    """One unit of a migration: a SQL statement or a CSV load."""

    def __init__(self, sql=None, csv_table=None, csv_path=None):
        self.sql = sql
        self.csv_table = csv_table
        self.csv_path = csv_path


def parse(text: str) -> list[Step]:
    """Split a migration file into statements and directives (a back-fill becomes its INSERT)."""
    steps, buf = [], []
    views: dict[str, tuple[str, str]] = {}  # materialized view -> (target table, its SELECT)
    for line in text.splitlines():
        m = DIRECTIVE_RE.match(line.strip())
        if m:
            steps.append(Step(csv_table=m.group(1), csv_path=m.group(2)))
            continue
        if m := BACKFILL_RE.match(line.strip()):
            if m.group(1) not in views:
                raise SystemExit(f"error: @backfill {m.group(1)}: no materialized view of that name above it")
            target, select = views[m.group(1)]
            steps.append(Step(sql=f"INSERT INTO {target}\n{select}"))
            continue
        buf.append(line)
        if line.rstrip().endswith(";"):
            stmt = "\n".join(buf).strip().rstrip(";").strip()
            buf = []
            if strip_comments(stmt):
                steps.append(Step(sql=stmt))
                if mv := MV_RE.match(strip_comments(stmt)):
                    views[mv.group(1)] = (mv.group(2), mv.group(3))
    rest = "\n".join(buf).strip()
    if strip_comments(rest):
        steps.append(Step(sql=rest))
    return steps


def earlier_checksums(text: str) -> set[str]:
    """The `@was` checksums of a rewritten file."""
    return {m.group(1) for line in text.splitlines() if (m := WAS_RE.match(line.strip()))}


def strip_comments(sql: str) -> str:
    return "\n".join(l for l in sql.splitlines() if not l.strip().startswith("--")).strip()


def migration_files(directory: pathlib.Path) -> list[tuple[str, str, pathlib.Path]]:
    files = []
    for path in sorted(directory.iterdir()):
        m = FILE_RE.match(path.name)
        if m:
            files.append((m.group(1), m.group(2), path))
        elif path.suffix == ".sql":
            raise SystemExit(f"error: {path.name} does not match NNNN_name.sql")
    versions = [v for v, _, _ in files]
    if len(versions) != len(set(versions)):
        raise SystemExit("error: two migrations share a number")
    return files
