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

# compare UNIT COUNT OURS THEIRS: the two measure lines as a table (UNIT per CPU second for
# COUNT units), then the ratios of ours against theirs.
compare() {
  local unit=$1 count=$2 ours=$3 theirs=$4
  printf '%-14s %8s %8s %12s %16s\n' run wall cpu "max RSS MiB" "$unit/CPU s"
  for line in "$ours" "$theirs"; do
    read -r name wall cpu kb <<<"$line"
    printf '%-14s %8.2f %8.2f %12.1f %16.0f\n' "$name" "$wall" "$cpu" "$(echo "$kb / 1024" | bc -l)" \
      "$(echo "${count:-0} / $cpu" | bc -l)"
  done
  read -r _ ow oc ok <<<"$ours"; read -r _ tw tc tk <<<"$theirs"
  printf 'ratios: %.1fx faster (wall), %.1fx less CPU, %.2f of its memory\n' \
    "$(echo "$tw / $ow" | bc -l)" "$(echo "$tc / $oc" | bc -l)" "$(echo "$ok / $tk" | bc -l)"
}
