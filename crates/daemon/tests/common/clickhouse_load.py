"""Loads broker records into ClickHouse in-process (the chdb package: ClickHouse itself, not
our code) with the tables of docs/scaling.md, then runs a query.

Usage: clickhouse_load.py TABLES.sql QUERY.sql RECORDS.jsonl
TABLES.sql: statements separated by ';'. RECORDS.jsonl: one JSON record or marker a line,
inserted into pmacct_ingest as a consumer would. Prints the query's rows as JSON lines."""
import sys
import tempfile

from chdb.session import Session

tables, query = (open(p).read() for p in sys.argv[1:3])
records = sys.argv[3]
with tempfile.TemporaryDirectory() as path:
    s = Session(path)
    s.query("CREATE DATABASE pm")
    s.query("USE pm")
    for statement in tables.split(";"):
        if statement.strip():
            s.query(statement)
    s.query(
        f"INSERT INTO pmacct_ingest FROM INFILE '{records}' "
        "SETTINGS input_format_skip_unknown_fields = 1 FORMAT JSONEachRow"
    )
    count = s.query("SELECT count() FROM pmacct_acct", "CSV").bytes().decode().strip()
    print(f"pmacct_acct rows: {count}", file=sys.stderr)
    print(s.query(query, "JSONEachRow").bytes().decode(), end="")
