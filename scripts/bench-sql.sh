#!/usr/bin/env bash
# Benchmark (not a test): rows per second the SQL plugins write for one large purge, ours
# against Debian's pmacctd 1.7.7 on the same capture.
#   scripts/bench-sql.sh [packets=1300000]      (1.3 M packets: about 1.05 M distinct 5-tuples)
#   BENCH_BACKENDS="sqlite3 pgsql mysql" (default: all three; pgsql/mysql need their servers'
#   Debian packages: a throwaway server is started on a free loopback port, as root)
# Without time bins a capture file is one purge for pmacct-rs; pmacct purges its cache when it
# fills (sql_cache_entries) and at the end. Each run starts from an empty table; the figure is
# rows in the table divided by the wall time of the whole run (pmacct's includes its 2 s sleep
# before reading a file, which is subtracted), one run each.
set -euo pipefail
cd "$(dirname "$0")/.."
packets="${1:-1300000}"
backends="${BENCH_BACKENDS:-sqlite3 pgsql mysql}"
work="${BENCH_DIR:-target/bench}"
mkdir -p "$work"
cargo build --release --bins -q
work=$(realpath "$work")
bin=$(realpath target/release)
pcap="$work/bench-sql-$packets.pcap"
[ -f "$pcap" ] || "$bin/pcapgen" "$pcap" "$packets" 1000 600
cat "$pcap" >/dev/null
rm -f "$work/bench.spool"

conf() { # backend db extra [history] -> config
  cat <<CONF
pcap_savefile: $pcap
plugins: $1[b]
aggregate[b]: src_host, dst_host, src_port, dst_port, proto
sql_table_version[b]: 1
sql_db[b]: $2
sql_refresh_time[b]: 3600
${4:-}
sql_cache_entries[b]: 1100000
sql_spool_file[b]: $work/bench.spool
plugin_buffer_size: 10240000
plugin_pipe_size: 1024000000
$3
CONF
}

timed() { # name sleep_secs rows_query command... -> prints a line
  local name=$1 sleep=$2 query=$3; shift 3
  local start end rows
  start=$(date +%s.%N)
  "$@" >/dev/null 2>"$work/$name.stderr" || true
  end=$(date +%s.%N)
  rows=$(eval "$query")
  printf '%-22s %10s rows %8.2f s %12.0f rows/s\n' "$name" "$rows" \
    "$(echo "$end - $start - $sleep" | bc -l)" "$(echo "$rows / ($end - $start - $sleep)" | bc -l)"
}

schema=/usr/share/doc/pmacct/sql

if [[ " $backends " == *" sqlite3 "* ]]; then
  echo "== sqlite3, one purge of the 5-tuples of $pcap"
  rm -f "$work"/bench*.db*
  conf sqlite3 "$work/bench-ours.db" "" > "$work/sqlite-ours.conf"
  timed pmacct-rs 0 "sqlite3 $work/bench-ours.db 'select count(*) from acct'" \
    "$bin/pmacctd" -f "$work/sqlite-ours.conf"
  sqlite3 "$work/bench-theirs.db" < "$schema/pmacct-create-table_v1.sqlite3"
  conf sqlite3 "$work/bench-theirs.db" "" > "$work/sqlite-theirs.conf"
  timed pmacctd-1.7.7 2 "sqlite3 $work/bench-theirs.db 'select count(*) from acct'" \
    /usr/sbin/pmacctd -f "$work/sqlite-theirs.conf"
fi

if [[ " $backends " == *" pgsql "* ]]; then
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | tail -1)
  pg="$work/pg"; rm -rf "$pg"; mkdir -p "$pg"; chown postgres "$pg"
  runuser -u postgres -- "$pgbin/initdb" -A trust -U postgres --no-sync -D "$pg/data" >/dev/null
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg/data" -l "$pg/log" -w \
    -o "-p $port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
  psql="psql -qtA -h 127.0.0.1 -p $port -U postgres"
  $psql -c "CREATE ROLE pmacct LOGIN PASSWORD 'arealsmartpwd'" -c "CREATE DATABASE pmacct OWNER pmacct" >/dev/null
  pgconf="sql_host[b]: 127.0.0.1
sql_port[b]: $port"
  echo "== pgsql (PostgreSQL on 127.0.0.1:$port), one purge of the 5-tuples of $pcap"
  conf pgsql pmacct "$pgconf" > "$work/pg.conf"
  timed pmacct-rs 0 "$psql -d pmacct -c 'select count(*) from acct'" "$bin/pmacctd" -f "$work/pg.conf"
  $psql -d pmacct -c "DROP TABLE acct" >/dev/null
  sed -n '/DROP TABLE IF EXISTS acct;/,/^);/p' "$schema/pmacct-create-table_v1.pgsql" | $psql -d pmacct >/dev/null
  $psql -d pmacct -c "GRANT ALL ON acct TO pmacct" >/dev/null
  timed pmacctd-1.7.7 2 "$psql -d pmacct -c 'select count(*) from acct'" /usr/sbin/pmacctd -f "$work/pg.conf"
  runuser -u postgres -- "$pgbin/pg_ctl" -D "$pg/data" -m fast stop >/dev/null
fi

if [[ " $backends " == *" mysql "* ]]; then
  my="$work/my"; rm -rf "$my"; mkdir -p "$my"
  mariadb-install-db --no-defaults --user=root --skip-test-db --datadir="$my/data" >/dev/null 2>&1
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  /usr/sbin/mariadbd --no-defaults --user=root --skip-grant-tables --skip-log-bin \
    --bind-address=127.0.0.1 --port="$port" --datadir="$my/data" --socket="$my/sock" \
    --pid-file="$my/pid" --innodb-buffer-pool-size=512M >"$my/log" 2>&1 &
  mypid=$!
  for _ in $(seq 200); do mariadb -h 127.0.0.1 -P "$port" -u root -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  sql="mariadb -N -h 127.0.0.1 -P $port -u root"
  $sql -e "CREATE DATABASE pmacct"
  myconf="sql_host[b]: 127.0.0.1
sql_port[b]: $port"
  echo "== mysql (MariaDB on 127.0.0.1:$port), one purge of the 5-tuples of $pcap"
  # pmacct's mysql tables have no default for stamp_inserted: bins, so that its rows insert.
  conf mysql pmacct "$myconf" "sql_history[b]: 1h
sql_history_roundoff[b]: h" > "$work/my.conf"
  timed pmacct-rs 0 "$sql pmacct -e 'select count(*) from acct'" "$bin/pmacctd" -f "$work/my.conf"
  $sql < "$schema/pmacct-create-db_v1.mysql"
  timed pmacctd-1.7.7 2 "$sql pmacct -e 'select count(*) from acct'" /usr/sbin/pmacctd -f "$work/my.conf"
  kill "$mypid"; wait "$mypid" 2>/dev/null || true
fi
