# Shared by the bench-*.sh scripts (sourced, not run): the tools they need and how one run is
# measured.

# Stops with the apt-get line when a tool is missing.
need() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y tcpdump pmacct time bc" >&2; exit 1; }
  done
}

# measure NAME COMMAND... -> "NAME wall_s cpu_s max_rss_kib"; output in $work/NAME.{out,stderr,time}.
measure() {
  local name=$1; shift
  local log="$work/$name.time"
  /usr/bin/time -f "%e %U %S %M" -o "$log" "$@" >"$work/$name.out" 2>"$work/$name.stderr" || true
  read -r wall user sys kb < "$log"
  echo "$name $wall $(echo "$user + $sys" | bc -l) $kb"
}
