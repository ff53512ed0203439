# tests/cli: vsk bench as a user meets it: Ctrl-C during a run prints what
# was measured (text or JSON, marked interrupted) and exits 1 as iperf3
# does; a peer that is no 'vsk bench -s' is named so.

# bench_srv: 'vsk bench -s' on unix:$tmp/b.sock in the background.
bench_srv() {
	"$VSK" bench -s -q "unix:$tmp/b.sock" >"$tmp/srv.out" 2>"$tmp/srv.err" &
	bgpids+=($!)
	srvpid=$!
	wait_sock "$tmp/b.sock" || { fail "vsk bench -s did not listen: $(cat "$tmp/srv.err")"; return 1; }
}

# bench_int SIG ARGS...: a 30 s client, SIG after about 1 s; sets $rc, $out, $errout.
bench_int() {
	local sig=$1 pid
	shift
	"$VSK" bench "$@" "unix:$tmp/b.sock" >"$tmp/c.out" 2>"$tmp/c.err" &
	pid=$!
	sleep 1
	kill "-$sig" "$pid"
	wait_pid "$pid" 10
	rc=$?
	out=$(cat "$tmp/c.out")
	errout=$(cat "$tmp/c.err")
}

case_add bench_sigint_text "bench -t 30, SIGINT after 1 s: the summary so far marked interrupted, exit 1, at once"
t_bench_sigint_text() {
	local t0
	bench_srv || return
	t0=$SECONDS
	bench_int INT -t 30
	expect_rc 1 "bench -t 30 interrupted" || return
	[ $((SECONDS - t0)) -lt 8 ] || { fail "the client took $((SECONDS - t0)) s after SIGINT"; return; }
	if ! grep -qE '^up: [1-9][0-9]* bytes in [01]\.[0-9]+ s = .*, 1 connection, interrupted by SIGINT' <<<"$out"; then
		fail "no interrupted summary: $out"
		return
	fi
	grep -q '^vsk bench: unix:.*: interrupted by SIGINT after [01]\.[0-9]* s$' <<<"$errout" ||
		{ fail "stderr: $errout"; return; }
	kill -0 "$srvpid" || { fail "the server died: $(cat "$tmp/srv.err")"; return; }
	# The server (-q) says nothing of a client that went away.
	sleep 0.3
	[ -s "$tmp/srv.err" ] && { fail "bench -s -q on an interrupted client: $(cat "$tmp/srv.err")"; return; }
	pass
}

case_add bench_sigint_json "bench --json --rr, SIGINT/SIGTERM after 1 s: one JSON object with interrupted true"
t_bench_sigint_json() {
	bench_srv || return
	bench_int INT --json --rr -t 30
	expect_rc 1 "bench --json --rr interrupted" || return
	python3 - "$out" <<'EOF' || { fail "JSON: $out"; return; }
import json, sys
o = json.loads(sys.argv[1])
assert o["interrupted"] is True and o["verified"] is False, o
assert o["round_trips"] > 0 and o["latency"]["samples"] > 0, o
assert 0.5 < o["duration_sec"] < 5, o
assert "interrupted by SIGINT" in o["error"], o
EOF
	bench_int TERM --json -R -P 2 -t 30
	expect_rc 1 "bench --json -R interrupted by SIGTERM" || return
	python3 - "$out" <<'EOF' || { fail "JSON: $out"; return; }
import json, sys
o = json.loads(sys.argv[1])
assert o["interrupted"] is True and o["down_bytes"] > 0 and o["parallel"] == 2, o
assert "SIGTERM" in o["error"], o
EOF
	pass
}

case_add bench_json_ok "bench --json: compact, the new names, interrupted false, exit 0"
t_bench_json_ok() {
	bench_srv || return
	run_vsk bench --json -n 3M -P 2 "unix:$tmp/b.sock"
	expect_rc 0 "bench --json -n 3M -P 2" || return
	[[ $out == '{"time":'*'"up_bytes":6291456,'*'"verified":true,"interrupted":false,"error":null}' ]] ||
		{ fail "JSON: $out"; return; }
	pass
}

case_add bench_not_bench_echo "bench against 'vsk listen --echo': the peer did not answer like 'vsk bench -s'"
t_bench_not_bench_echo() {
	local mode
	"$VSK" listen --echo "unix:$tmp/e.sock" >/dev/null 2>&1 &
	bgpids+=($!)
	wait_sock "$tmp/e.sock" || { fail "vsk listen --echo did not listen"; return; }
	for mode in "-n 1M" "-R -n 1M" "--rr -c 10" "--crr -c 10" "--bidir -n 1M"; do
		# shellcheck disable=SC2086
		run_vsk bench --timeout 5000 $mode "unix:$tmp/e.sock"
		expect_rc 1 "bench $mode against an echo" || return
		grep -q "^vsk bench: unix:$tmp/e.sock: the peer did not answer like 'vsk bench -s' (.*echo server" <<<"$errout" ||
			{ fail "bench $mode against an echo: $errout"; return; }
	done
	pass
}

case_add bench_not_bench_closes "bench against a server that closes at once: no report, not 'vsk bench -s' or a stopped one"
t_bench_not_bench_closes() {
	local mode
	python3 - "$tmp/c.sock" <<'EOF' &
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(16)
while True:
    c, _ = s.accept()
    c.close()
EOF
	bgpids+=($!)
	wait_sock "$tmp/c.sock" || { fail "the closing server did not listen"; return; }
	for mode in "-n 1M" "-R -n 1M" "--rr -c 10"; do
		# shellcheck disable=SC2086
		run_vsk bench --timeout 5000 $mode "unix:$tmp/c.sock"
		expect_rc 1 "bench $mode against a closing server" || return
		grep -q "^vsk bench: unix:$tmp/c.sock: no report from the peer (.*closed the connection.*): it is not 'vsk bench -s', or that server stopped" <<<"$errout" ||
			{ fail "bench $mode against a closing server: $errout"; return; }
	done
	pass
}
