# tests/cli: numbers on the command line (src/cli_num.c).  Every option
# of every command that takes a number: a mistake is exit 2 with
# "vsk CMD: OPT 'WHAT WAS TYPED': ... expected MIN..MAX UNIT" and the hint;
# what is in range (suffixes, fractions) gets past the parsing.

# num_bad ARGS|WANT lines: each exits 2, one message line naming the text
# as typed and WANT, and the hint.
num_bad() {
	local args want cmd
	while IFS='|' read -r args want; do
		[ -n "$args" ] || continue
		# shellcheck disable=SC2086
		run_vsk $args
		expect_rc 2 "vsk $args" || return 1
		cmd=${args%% *}
		if [ "$(wc -l <<<"$errout")" != 2 ] || [[ $(head -1 <<<"$errout") != "vsk $cmd: "*"$want"* ]] ||
		   [[ $(tail -1 <<<"$errout") != "see 'vsk $cmd --help'" ]]; then
			fail "vsk $args: want 'vsk $cmd: ...$want...' and the hint, got: $errout"
			return 1
		fi
	done
}

case_add num_bench "bench -l -P -t -n -c --timeout: real ranges, the text as typed, 0 refused"
t_num_bench() {
	num_bad <<'LIST' || return
bench -n 0 unix:/x|-n '0': out of range: expected 1..1125899906842624 bytes (1..1024T)
bench -n 5X unix:/x|-n '5X': not a size
bench -n 1025T unix:/x|-n '1025T': out of range
bench -l 1.5M unix:/x|-l '1.5M': out of range: expected 1..1048576 bytes (1..1M)
bench -l 0 unix:/x|-l '0': out of range: expected 1..1048576 bytes
bench -l 1.1K unix:/x|-l '1.1K': not a whole number of bytes
bench --length=2M unix:/x|-l '2M': out of range
bench -P 0 unix:/x|-P '0': out of range: expected 1..4096
bench -P 4097 unix:/x|-P '4097': out of range: expected 1..4096
bench -P two unix:/x|-P 'two': not a count
bench -t 0 unix:/x|-t '0': out of range: expected 0.001..86400 s
bench -t 25h unix:/x|-t '25h': out of range: expected 0.001..86400 s
bench -t 10x unix:/x|-t '10x': not a duration
bench --rr -c 0 unix:/x|-c '0': out of range: expected 1..4294967295
bench --crr -c 0 unix:/x|-c '0': out of range: expected 1..4294967295
bench --rr -c 4294967296 unix:/x|-c '4294967296': out of range
bench --timeout 0 unix:/x|--timeout '0': out of range: expected 1..86400000 ms
bench --timeout -5 unix:/x|--timeout '-5': not a duration
LIST
	pass
}

# What the parsers take must get past them: the run then fails at the
# connect (exit 1, "connect"), not at the option (exit 2).
case_add num_bench_accepts "bench takes -n 4294967296, -n 5G, -l 1.5K, -t 1.5, -t 500ms, --timeout 2s"
t_num_bench_accepts() {
	local args
	for args in "-n 4294967296" "-n 5G" "-n 1.5K" "-l 1.5K" "-l 1M" "-t 1.5" "-t 500ms" "-t 2m" \
		"--timeout 2s" "--timeout 250" "-P 4096" "--rr -c 1"; do
		# shellcheck disable=SC2086
		run_vsk bench $args "unix:$tmp/nobody"
		expect_rc 1 "vsk bench $args" || return
		grep -q "connect" <<<"$errout" || { fail "vsk bench $args: $errout"; return; }
	done
	pass
}

case_add num_timeouts "connect/proxy/send --timeout (ms) and -w (s): 1 ms..24 h, 0 refused"
t_num_timeouts() {
	num_bad <<'LIST' || return
connect --timeout 0 unix:/x|--timeout '0': out of range: expected 1..86400000 ms
connect --timeout 86400001 unix:/x|--timeout '86400001': out of range
connect -w 0 unix:/x|-w '0': out of range: expected 0.001..86400 s
connect -w 1y unix:/x|-w '1y': not a duration
connect --retry -1 unix:/x|--retry '-1': not a count
connect --retry 1000001 unix:/x|--retry '1000001': out of range: expected 0..1000000
connect --bind any unix:/x|--bind 'any': out of range: expected 0..4294967294
connect --bind 4294967295 unix:/x|--bind '4294967295': out of range
proxy --timeout 0 unix:/a unix:/b|--timeout '0': out of range: expected 1..86400000 ms
proxy -w 0 unix:/a unix:/b|-w '0': out of range: expected 0.001..86400 s
proxy -w 2d unix:/a unix:/b|-w '2d': not a duration
send --timeout 0 unix:/x|-t '0': out of range: expected 1..86400000 ms
send -t 1.5 unix:/x|-t '1.5': not a whole number of milliseconds
send -w 0 unix:/x|-w '0': out of range: expected 0.001..86400 s
LIST
	pass
}

case_add num_timeouts_accept "-w 2 and --timeout 2s mean the same; a connect to nobody fails at once (exit 1)"
t_num_timeouts_accept() {
	local args
	for args in "connect -w 2" "connect -w 1.5" "connect --timeout 2s" "connect --timeout 2000" \
		"send -t 2000" "send -w 2" "send --timeout 1.5s"; do
		# shellcheck disable=SC2086
		run_vsk $args "unix:$tmp/nobody"
		expect_rc 1 "vsk $args" || return
	done
	pass
}

case_add num_device "device --guest-cid 3..4294967294, --forward-cid, sizes, --threads, --connect-timeout"
t_num_device() {
	num_bad <<'LIST' || return
device --guest-cid abc|--guest-cid 'abc': not a CID: expected 3..4294967294
device --guest-cid 2|--guest-cid '2': out of range: expected 3..4294967294
device --guest-cid host|--guest-cid 'host': CID 2 is out of range: expected 3..4294967294
device --guest-cid 4294967295|--guest-cid '4294967295': out of range: expected 3..4294967294
device --forward-cid any|--forward-cid 'any': CID 4294967295 is out of range: expected 0..4294967294
device --forward-cid x|--forward-cid 'x': not a CID: expected 0..4294967294, host (2), local (1), hypervisor (0)
device --tx-buffer-size 1K|--tx-buffer-size '1K': out of range: expected 4096..67108864 bytes (4K..64M)
device --tx-buffer-size 65M|--tx-buffer-size '65M': out of range
device --queue-size 0|--queue-size '0': out of range: expected 1..32768
device --connect-timeout 2h|--connect-timeout '2h': out of range: expected 0..3600000 ms
device --connect-timeout x|--connect-timeout 'x': not a duration
device --threads 0|--threads '0': out of range: expected 1..256
device --threads 257|--threads '257': out of range: expected 1..256
LIST
	pass
}

case_add num_device_accepts "device takes --guest-cid 3, --forward-cid host, --tx-buffer-size 64K, --connect-timeout 1.5s"
t_num_device_accepts() {
	# Past the numbers, the next complaint is the missing --socket.
	run_vsk device --guest-cid 3 --tx-buffer-size 64K --connect-timeout 1.5s --queue-size 256 --threads 2
	expect_rc 2 "vsk device --guest-cid 3 ..." || return
	grep -q "socket is required" <<<"$errout" || { fail "want the missing socket: $errout"; return; }
	run_vsk device --forward-cid host --guest-cid 4294967294
	expect_rc 2 "vsk device --forward-cid host" || return
	grep -q "socket is required" <<<"$errout" || { fail "want the missing socket: $errout"; return; }
	pass
}

case_add num_dump "dump -c -s --cid --port --plot-conn: the same parsers"
t_num_dump() {
	num_bad <<'LIST' || return
dump -c x -r /dev/null|-c 'x': not a count: expected a whole number 1..4294967295
dump -s 1M -r /dev/null|-s '1M': out of range
dump --cid abc -r /dev/null|--cid 'abc': not a CID
dump --port -1 -r /dev/null|--port '-1': not a port
LIST
	pass
}

case_add num_device_vm "device --vm and --config keys state the same ranges as the flags"
t_num_device_vm() {
	run_vsk device --vm guest-cid=abc,socket=/a,uds-path=/b
	expect_rc 2 "vsk device --vm guest-cid=abc" || return
	grep -q "invalid value for guest-cid: 'abc' (a guest CID is 3..4294967294" <<<"$errout" ||
		{ fail "--vm guest-cid=abc: $errout"; return; }
	run_vsk device --vm guest-cid=4,socket=/a,uds-path=/b,queue-size=x
	expect_rc 2 "vsk device --vm queue-size=x" || return
	grep -q "queue-size: 'x' (expected a power of two 1..32768)" <<<"$errout" ||
		{ fail "--vm queue-size=x: $errout"; return; }
	pass
}
