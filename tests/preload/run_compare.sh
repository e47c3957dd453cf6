#!/usr/bin/env bash
# Runs one program natively and under ustack-run and compares them.
#
#   run_compare.sh USTACK_RUN PYTHON SCRIPT NAME=MIN...
#
#   USTACK_RUN  the ustack-run launcher (LD_PRELOADs libustack-preload.so)
#   PYTHON      the interpreter, e.g. /usr/bin/python3
#   SCRIPT      the program it runs
#   NAME=MIN    minimum object counts, NAME one of sockets, pipes, eventfds, epolls; at least
#               one must be positive (a pass has to prove that ustack was used)
#
# Passes only if: both runs exit 0; their stdouts are byte-identical; the ustack run's stderr,
# without its ustack-stats lines, equals the native run's stderr (a traceback from a thread
# ends up there and does not change the exit code); and `ustack-run --stats` printed at least
# one well-formed line
#   ustack-stats pid=<pid> sockets=<n> pipes=<n> eventfds=<n> epolls=<n>
# whose counts, summed over all such lines (one per process), reach every minimum.
# Each run is limited to RUN_TIMEOUT seconds (default 50; two runs fit in CTest's 120).
set -euo pipefail

me=$(basename "$0")
fail() {
  echo "$me: FAIL: $*" >&2
  exit 1
}

if (($# < 4)); then
  echo "usage: $me USTACK_RUN PYTHON SCRIPT NAME=MIN... (NAME: sockets|pipes|eventfds|epolls)" >&2
  exit 2
fi
ustack_run=$1 python=$2 script=$3
shift 3

counters=(sockets pipes eventfds epolls)
declare -A min=()
positive=0
for arg in "$@"; do
  [[ $arg =~ ^(sockets|pipes|eventfds|epolls)=([0-9]+)$ ]] ||
    fail "bad minimum '$arg' (want NAME=N with NAME one of ${counters[*]})"
  [[ -z ${min[${BASH_REMATCH[1]}]+x} ]] || fail "minimum for ${BASH_REMATCH[1]} given twice"
  min[${BASH_REMATCH[1]}]=$((10#${BASH_REMATCH[2]}))
  ((min[${BASH_REMATCH[1]}] > 0)) && positive=1
done
((positive)) || fail "no positive minimum given: a pass would not prove that ustack was used"

[[ -x $ustack_run && -f $ustack_run ]] || fail "USTACK_RUN '$ustack_run' is not an executable file"
[[ -x $python && -f $python ]] || fail "PYTHON '$python' is not an executable file"
[[ -f $script && -r $script ]] || fail "SCRIPT '$script' is not a readable file"

timeout_s=${RUN_TIMEOUT:-50}
work=$(mktemp -d "${TMPDIR:-/tmp}/ustack-preload-compare.XXXXXX")
trap 'rm -rf "$work"' EXIT
name=$(basename "$script")

run() {  # run OUT ERR CMD...: the command's exit code, 124 on timeout
  local out=$1 err=$2 rc=0
  shift 2
  timeout --kill-after=5 "$timeout_s" "$@" </dev/null >"$out" 2>"$err" || rc=$?
  echo "$rc"
}

show_diff() {  # show_diff MAXLINES: the stdout diff, at most MAXLINES lines of it
  diff -u --label "native stdout" --label "ustack-run stdout" "$work/native.out" "$work/ustack.out" \
    >"$work/diff" || true
  head -n "$1" "$work/diff" >&2
  local n
  n=$(wc -l <"$work/diff")
  ((n <= $1)) || echo "    ... ($((n - $1)) more diff lines)" >&2
}

show_file() {  # show_file TITLE FILE: the file's last lines, indented, if it is not empty
  if [[ -s $2 ]]; then
    echo "--- $1 (last 40 lines):" >&2
    tail -n 40 "$2" | sed 's/^/    /' >&2
  fi
}

native_rc=$(run "$work/native.out" "$work/native.err" "$python" "$script")
if ((native_rc != 0)); then
  show_file "native stderr" "$work/native.err"
  show_file "native stdout" "$work/native.out"
  ((native_rc == 124)) && fail "$name natively: timed out after ${timeout_s}s"
  fail "$name natively: exit code $native_rc (the script itself is broken on this machine)"
fi

ustack_rc=$(run "$work/ustack.out" "$work/ustack.err" "$ustack_run" --stats -- "$python" "$script")
if ((ustack_rc != 0)); then
  echo "--- stdout, native vs ustack-run:" >&2
  show_diff 60
  show_file "ustack-run stderr" "$work/ustack.err"
  ((ustack_rc == 124)) && fail "$name under ustack-run: timed out after ${timeout_s}s"
  fail "$name under ustack-run: exit code $ustack_rc (native: 0)"
fi

if ! cmp -s "$work/native.out" "$work/ustack.out"; then
  echo "--- stdout differs (native vs ustack-run):" >&2
  show_diff 300
  show_file "ustack-run stderr" "$work/ustack.err"
  fail "$name: stdout under ustack-run differs from the native run"
fi

# Split the ustack run's stderr into its stats lines and everything else.
stats_re='^ustack-stats pid=[0-9]+ sockets=([0-9]+) pipes=([0-9]+) eventfds=([0-9]+) epolls=([0-9]+)$'
declare -A total=([sockets]=0 [pipes]=0 [eventfds]=0 [epolls]=0)
nstats=0 malformed=""
: >"$work/ustack.err.rest"
while IFS= read -r line || [[ -n $line ]]; do
  if [[ $line =~ $stats_re ]]; then
    nstats=$((nstats + 1))
    for i in 0 1 2 3; do
      total[${counters[i]}]=$((total[${counters[i]}] + 10#${BASH_REMATCH[i + 1]}))
    done
  elif [[ $line == *ustack-stats* ]]; then
    malformed=${malformed:-$line}
  else
    printf '%s\n' "$line" >>"$work/ustack.err.rest"
  fi
done <"$work/ustack.err"

if [[ -n $malformed ]]; then
  show_file "ustack-run stderr" "$work/ustack.err"
  fail "$name: malformed stats line: '$malformed'"
fi

if ((nstats == 0)); then
  show_file "ustack-run stderr" "$work/ustack.err"
  fail "$name: no 'ustack-stats pid=... sockets=... pipes=... eventfds=... epolls=...' line on" \
    "stderr: was ustack really used (--stats honoured, preload loaded)?"
fi

if ! cmp -s "$work/native.err" "$work/ustack.err.rest"; then
  echo "--- stderr differs (native vs ustack-run without its stats lines):" >&2
  diff -u --label "native stderr" --label "ustack-run stderr" "$work/native.err" "$work/ustack.err.rest" >&2 || true
  fail "$name: stderr under ustack-run differs from the native run"
fi

summary="sockets=${total[sockets]} pipes=${total[pipes]} eventfds=${total[eventfds]} epolls=${total[epolls]}"
low=()
for c in "${counters[@]}"; do
  if [[ -n ${min[$c]+x} ]] && ((total[$c] < min[$c])); then
    low+=("$c=${total[$c]} < ${min[$c]}")
  fi
done
if ((${#low[@]})); then
  grep -E '^ustack-stats ' "$work/ustack.err" | sed 's/^/    /' >&2
  fail "$name: ustack created fewer objects than required: ${low[*]} (totals over $nstats" \
    "process(es): $summary) — calls went to the kernel instead of ustack?"
fi

echo "$me: PASS: $name: stdout identical ($(wc -l <"$work/native.out") lines), exit codes 0;" \
  "ustack objects over $nstats process(es): $summary"
