#!/usr/bin/env bash
# The native-heavy part of the suite under valgrind's memcheck: every fixture process of the
# chosen tests runs under valgrind (SA_TEST_WRAP, read by test/helpers/activated.ts and the
# process tier of the LISTEN_* fuzzer): the fd accounting process calls the whole public
# surface, success and error paths; the fuzzed activations inspect every kind of fd in good and
# bad environments, compared with libsystemd as usual. The report counts errors and leaks with
# a frame in the addon (node's own are counted apart) and writes build/reliability/valgrind.json.
# Tests that look at the fd layout right after start-up or at which program a parent process
# runs do not fit: under valgrind both change.
#   npm run valgrind            (VALGRIND_TESTS="test/a.test.ts …", FUZZ_RUNS for the fuzzer)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tests=${VALGRIND_TESTS:-"test/fd-accounting.test.ts test/fuzz-listen.test.ts"}
logs=$(mktemp -d "${TMPDIR:-/tmp}/sa-valgrind.XXXXXX")
trap 'rm -rf "$logs"' EXIT
# --log-file would leave valgrind's log at the lowest free fd, right where LISTEN_FDS counts:
# the log goes to fd 900, opened by bash (dash takes one-digit fds only), which then becomes
# valgrind (same pid).
wrap=$(node -e 'console.log(JSON.stringify(process.argv.slice(1)))' -- /bin/bash -c 'exec 900>>"$0.$$" && exec valgrind --tool=memcheck -v \
  --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect \
  --num-callers=40 --trace-children=no --log-fd=900 "$@"' "$logs/vg")
started=$(date +%s)
set +e
SA_TEST_WRAP="$wrap" FUZZ_RUNS=${FUZZ_RUNS:-24} npx vitest run --testTimeout=3600000 --hookTimeout=600000 $tests
status=$?
set -e
node scripts/valgrind-report.mjs "$logs" "$status" "$(( $(date +%s) - started ))" "$tests"
