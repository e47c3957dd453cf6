#!/usr/bin/env bash
# ustack-run --trace FILE: runs PROGRAM under the preload with a trace file and checks that the
# file holds the hops of an AF_UNIX send's wake-up chain, written by the traced process itself.
#   trace_check.sh USTACK_RUN PYTHON SCRIPT
set -euo pipefail
ustack_run=$1 python=$2 script=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$ustack_run" --trace "$dir/trace.txt" -- "$python" "$script" > "$dir/out.txt"
fail() { echo "trace_check: $*" >&2; cat "$dir/trace.txt" 2>/dev/null | head -20 >&2; exit 1; }
[[ -s $dir/trace.txt ]] || fail "no trace file written"
head -1 "$dir/trace.txt" | grep -q '^# ustack wake-up trace, pid [0-9]*:' || fail "bad header"
for hop in unix_stream_sendmsg sock_def_readable ep_poll_callback; do
  grep -q " $hop(" "$dir/trace.txt" || fail "no $hop hop in the trace"
done
# Only the traced process itself wrote: no FILE.<pid> files from children.
extra=$(find "$dir" -name 'trace.txt.*' | wc -l)
[[ $extra -eq 0 ]] || fail "$extra unexpected per-child trace files"
echo "trace_check: $(grep -c . "$dir/trace.txt") lines, the send chain's hops present"
