# tests/cli: short flags mean one thing across commands: -h everywhere,
# -s only where it is the habit (bench -s as iperf3, dump -s as tcpdump),
# -k is --keep-open (listen, recv), -w the nc timeout in seconds.

case_add flags_help_h "every command's --help lists '-h, --help' and -h prints the same"
t_flags_help_h() {
	local c want
	for c in $("$VSK" --list-commands); do
		[ "$c" = dump ] && continue # its help is another change's
		want=$("$VSK" "$c" --help)
		grep -q -- '-h, --help' <<<"$want" || { fail "vsk $c --help does not list -h, --help"; return; }
		run_vsk "$c" -h
		expect_rc 0 "vsk $c -h" || return
		[ "$out" = "$want" ] || { fail "vsk $c -h differs from --help"; return; }
	done
	pass
}

case_add flags_systemd_long "listen and proxy: --systemd has no short -s any more"
t_flags_systemd_long() {
	run_vsk listen -s
	expect_rc 2 "vsk listen -s" || return
	grep -q "invalid option -- 's'" <<<"$errout" || { fail "vsk listen -s: $errout"; return; }
	run_vsk proxy -s unix:/t
	expect_rc 2 "vsk proxy -s" || return
	grep -q "invalid option -- 's'" <<<"$errout" || { fail "vsk proxy -s: $errout"; return; }
	"$VSK" listen --help | grep -q -- '^  --systemd' || { fail "listen --help: no --systemd line"; return; }
	"$VSK" proxy --help | grep -q -- '^  --systemd' || { fail "proxy --help: no --systemd line"; return; }
	pass
}

case_add flags_recv_keep_open "recv -k is --keep-open (as listen's), --keep still accepted: two clients served"
t_flags_recv_keep_open() {
	local opt pid n
	for opt in --keep-open --keep -k; do
		rm -f "$tmp/r.sock" "$tmp/r.out"
		"$VSK" recv "$opt" "unix:$tmp/r.sock" >"$tmp/r.out" 2>"$tmp/r.err" &
		pid=$!
		bgpids+=($pid)
		wait_sock "$tmp/r.sock" || { fail "vsk recv $opt did not listen: $(cat "$tmp/r.err")"; return; }
		"$VSK" send "unix:$tmp/r.sock" one >/dev/null 2>&1
		"$VSK" send "unix:$tmp/r.sock" two >/dev/null 2>&1
		wait_file "$tmp/r.out" "Received message: two" || { fail "recv $opt: $(cat "$tmp/r.out")"; return; }
		kill "$pid"
		wait "$pid" 2>/dev/null
		n=$(grep -c '^Received message: ' "$tmp/r.out")
		[ "$n" = 2 ] || { fail "recv $opt: $n messages, want 2"; return; }
	done
	"$VSK" recv --help | grep -q -- '-k, --keep-open' || { fail "recv --help: no -k, --keep-open"; return; }
	pass
}

case_add flags_synopsis "bench's synopsis lists --timeout; connect, proxy, send list -w SECS"
t_flags_synopsis() {
	local c
	"$VSK" bench --help | head -3 | grep -q -- '--timeout MS' || { fail "bench synopsis: no --timeout"; return; }
	for c in connect proxy send; do
		"$VSK" "$c" --help | head -2 | grep -q -- '-w SECS' || { fail "$c synopsis: no -w SECS"; return; }
	done
	"$VSK" send --help | grep -q -- '-t, --timeout MS' || { fail "send --help: -t undocumented"; return; }
	pass
}
