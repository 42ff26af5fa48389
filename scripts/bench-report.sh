#!/usr/bin/env bash
# Benchmark (not a test): `pmacct report` over 30 days of 1-minute bins for 50 devices, each
# talking to one remote peer per minute: 2,160,000 rows in an SQLite table of pmacct's v1
# layout (the sqlite3 plugin's, WAL mode). Prints the row count and the report's wall time.
#   scripts/bench-report.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --bins -q
db="$work/report-30d.db"
if [ ! -f "$db" ]; then
  python3 - "$db" <<'PY'
import sqlite3, sys, datetime
db = sqlite3.connect(sys.argv[1])
db.execute("PRAGMA journal_mode=WAL")
db.execute("""CREATE TABLE acct (mac_src CHAR(17), mac_dst CHAR(17), ip_src CHAR(45), ip_dst CHAR(45),
  src_port INT, dst_port INT, ip_proto CHAR(6), packets INT, bytes BIGINT,
  stamp_inserted DATETIME, stamp_updated DATETIME)""")
start = datetime.datetime(2026, 11, 1)
def rows():
    for minute in range(30 * 1440):
        t = (start + datetime.timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:%S")
        for d in range(50):
            dev = f"192.168.1.{10 + d}"
            peer = f"93.184.{d}.{minute % 200}"
            if minute % 2:
                yield ("0:0:0:0:0:0", "0:0:0:0:0:0", peer, dev, 0, 0, "0", 10, 12000 + d, t, t)
            else:
                yield ("0:0:0:0:0:0", "0:0:0:0:0:0", dev, peer, 0, 0, "0", 5, 900 + d, t, t)
db.executemany("INSERT INTO acct VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows())
db.commit()
PY
fi
echo "rows: $(sqlite3 "$db" 'SELECT COUNT(*) FROM acct' 2>/dev/null || python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT COUNT(*) FROM acct').fetchone()[0])" "$db")"
for format in csv table; do
  /usr/bin/time -f "report --by day --format $format: %e s wall, %M KiB max RSS" \
    target/release/pmacct report --db "$db" --local-net 192.168.1.0/24 --format "$format" > "$work/report.$format"
done
/usr/bin/time -f "report --by month --top 3: %e s wall, %M KiB max RSS" \
  target/release/pmacct report --db "$db" --local-net 192.168.1.0/24 --by month --top 3 > "$work/report.top"
echo "rows in the daily CSV: $(($(wc -l < "$work/report.csv") - 1))"
