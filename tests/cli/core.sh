# tests/cli: libvsk's core as the command line shows it: listener errors
# (the server's rule, never a client's advice), module fixes that agree
# with vsk check, tcp::PORT on both families, long paths in messages, and
# vsk device's refusals of clashing VMs and reserved CIDs.

# json_fix GROUP NAME: vsk check's first fix for that item, "" if none.
json_fix() {
	"$VSK" check --json 2>/dev/null | python3 -c '
import json, sys
d = json.load(sys.stdin)
for i in d["items"]:
    if i["group"] == sys.argv[1] and i["name"] == sys.argv[2]:
        print(i["fix"][0] if i["fix"] else "")
' "$1" "$2"
}

# has TEXT NEEDLE / lacks TEXT NEEDLE: fixed-string tests.
has() { [[ $1 == *"$2"* ]]; }

case_add core_listen_no_dir "vsk listen unix:/missing/dir/x.sock names the missing directory, not a client's advice"
t_core_listen_no_dir() {
	run_vsk listen "unix:$tmp/nodir/x.sock"
	expect_rc 1 "vsk listen unix:$tmp/nodir/x.sock" || return
	has "$errout" "directory $tmp/nodir does not exist" ||
		{ fail "does not name the directory: $errout"; return; }
	if has "$errout" "nobody listens" || has "$errout" "no socket at"; then
		fail "a listener got a client's advice: $errout"
		return
	fi
	pass
}

case_add core_listen_hybrid_no_dir "vsk listen hybrid:PATH:PORT names PATH_PORT and its directory, not vsk device"
t_core_listen_hybrid_no_dir() {
	run_vsk listen "hybrid:$tmp/nodir/h:5000"
	expect_rc 1 "vsk listen hybrid:$tmp/nodir/h:5000" || return
	has "$errout" "$tmp/nodir/h_5000" || { fail "does not name the file bound, PATH_PORT: $errout"; return; }
	has "$errout" "directory $tmp/nodir does not exist" ||
		{ fail "does not name the directory: $errout"; return; }
	if has "$errout" "vsk device" || has "$errout" "nobody listens"; then
		fail "a listener got a client's advice: $errout"
		return
	fi
	pass
}

case_add core_listen_regular_file "a regular file at a listener's path is said to be one, and is left alone"
t_core_listen_regular_file() {
	echo data >"$tmp/reg"
	run_vsk listen "unix:$tmp/reg"
	expect_rc 1 "vsk listen unix:$tmp/reg" || return
	has "$errout" "$tmp/reg is a regular file, not a socket" || { fail "not said to be a regular file: $errout"; return; }
	has "$errout" "live listener" && { fail "called a live listener: $errout"; return; }
	[ "$(cat "$tmp/reg")" = data ] || { fail "the file was changed or removed"; return; }
	pass
}

case_add core_listen_live_vs_stale "a live listener's socket is in use; a stale one is replaced"
t_core_listen_live_vs_stale() {
	local pid
	"$VSK" listen --echo "unix:$tmp/l.sock" </dev/null >/dev/null 2>"$tmp/l.err" &
	pid=$!
	bgpids+=("$pid")
	wait_sock "$tmp/l.sock" || { fail "first listener made no socket: $(cat "$tmp/l.err")"; return; }
	run_vsk listen "unix:$tmp/l.sock"
	kill "$pid" 2>/dev/null
	wait_pid "$pid" 5 >/dev/null
	[ "$rc" = 1 ] || { fail "second listener exit $rc, want 1 ($errout)"; return; }
	has "$errout" "$tmp/l.sock is in use by a live listener" || { fail "not called live: $errout"; return; }
	# Its socket file, now stale (nobody accepts), is taken over.
	[ -S "$tmp/l.sock" ] || python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/l.sock"
	"$VSK" listen --once "unix:$tmp/l.sock" </dev/null >/dev/null 2>"$tmp/l2.err" &
	pid=$!
	bgpids+=("$pid")
	sleep 0.3
	if ! kill -0 "$pid" 2>/dev/null; then
		fail "a stale socket was not replaced: $(cat "$tmp/l2.err")"
		return
	fi
	kill "$pid" 2>/dev/null
	wait_pid "$pid" 5 >/dev/null
	pass
}

case_add core_long_path "a long socket path gives a whole message with both lengths (200 and 4000 bytes)"
t_core_long_path() {
	local n long
	for n in 200 4000; do
		long=$(printf "%${n}s" "" | tr ' ' a)
		run_vsk listen "unix:/tmp/$long"
		expect_rc 2 "vsk listen unix:/tmp/<$n a's>" || return
		if [ "$(wc -l <<<"$errout")" != 1 ] || ! has "$errout" "socket path too long ($((n + 5)) bytes, at most 107)"; then
			fail "$n a's: want one whole line with '($((n + 5)) bytes, at most 107)', got: $errout"
			return
		fi
	done
	pass
}

case_add core_fix_agrees_check "vsk listen vsock:1/vsock:2 and vsk dump give the fix vsk check gives"
t_core_fix_agrees_check() {
	local fix n=0
	if ! "$VSK" check --json >/dev/null 2>&1 && ! "$VSK" check --json 2>/dev/null | grep -q items; then
		skip "vsk check --json gives no report here"
		return
	fi
	fix=$(json_fix bind "CID 1")
	run_vsk listen vsock:1:5998
	if [ "$rc" = 1 ] && [ -n "$fix" ]; then
		has "$errout" "$fix" || { fail "vsock:1: '$fix' (vsk check) not in: $errout"; return; }
		[[ $fix != *modprobe* ]] && has "$errout" modprobe && { fail "vsock:1 says modprobe, vsk check does not: $errout"; return; }
		n=$((n + 1))
	fi
	fix=$(json_fix host-modules vhost_vsock)
	run_vsk listen vsock:2:5998
	if [ "$rc" = 1 ] && [ -n "$fix" ]; then
		has "$errout" "$fix" || { fail "vsock:2: '$fix' (vsk check) not in: $errout"; return; }
		[[ $fix != *modprobe* ]] && has "$errout" modprobe && { fail "vsock:2 says modprobe, vsk check does not: $errout"; return; }
		n=$((n + 1))
	fi
	fix=$(json_fix host-modules vsockmon)
	if [ "$(id -u)" = 0 ] && [ -n "$fix" ] && ! ls /sys/class/net 2>/dev/null | grep -q vsockmon; then
		run_vsk dump -c 1
		[ "$rc" = 1 ] || { fail "vsk dump without vsockmon exit $rc, want 1 ($errout)"; return; }
		has "$errout" "$fix" || { fail "vsk dump: '$fix' (vsk check) not in: $errout"; return; }
		n=$((n + 1))
	fi
	[ "$n" -gt 0 ] || { skip "loopback, vhost_vsock and vsockmon all present (or not root): nothing to compare"; return; }
	pass
}

case_add core_tcp_dual_stack "vsk listen tcp::PORT takes 127.0.0.1 and ::1"
t_core_tcp_dual_stack() {
	local port pid out4 out6
	port=$(free_tcp_port)
	"$VSK" listen --echo "tcp::$port" </dev/null >/dev/null 2>"$tmp/t.err" &
	pid=$!
	bgpids+=("$pid")
	out4=""
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		out4=$(echo v4 | timeout 5 "$VSK" connect "tcp:127.0.0.1:$port" 2>/dev/null) && break
		sleep 0.2
	done
	if python3 -c 'import socket; s=socket.socket(socket.AF_INET6); s.bind(("::1",0))' 2>/dev/null; then
		out6=$(echo v6 | timeout 5 "$VSK" connect "tcp:[::1]:$port" 2>&1)
	else
		out6=v6
		echo "note: no IPv6 loopback here, only 127.0.0.1 checked"
	fi
	kill "$pid" 2>/dev/null
	wait_pid "$pid" 5 >/dev/null
	[ "$out4" = v4 ] || { fail "127.0.0.1: echo got '$out4' ($(cat "$tmp/t.err"))"; return; }
	[ "$out6" = v6 ] || { fail "::1: echo got '$out6'"; return; }
	pass
}

case_add core_device_clash "two --vm with one CID or socket: the VMs by place, the field and its value"
t_core_device_clash() {
	run_vsk device --vm "guest-cid=4,socket=$tmp/s1,uds-path=$tmp/u1" --vm "guest-cid=4,socket=$tmp/s2,uds-path=$tmp/u2"
	expect_rc 2 "vsk device with two VMs of CID 4" || return
	has "$errout" "VMs 1 and 2 both use guest CID 4" || { fail "CID clash: $errout"; return; }
	run_vsk device --vm "guest-cid=4,socket=$tmp/s1,uds-path=$tmp/u1" --vm "guest-cid=5,socket=$tmp/s1,uds-path=$tmp/u2"
	expect_rc 2 "vsk device with two VMs on one socket" || return
	has "$errout" "VMs 1 and 2 both use socket $tmp/s1" || { fail "socket clash: $errout"; return; }
	[ -e "$tmp/s1" ] && { fail "a refused config left $tmp/s1"; return; }
	pass
}

case_add core_device_cid_rule "--vm guest-cid=abc/2/-1 says the rule: 3..4294967294, 0-2 reserved, -1 any"
t_core_device_cid_rule() {
	local v
	for v in abc 2 4294967295 -1; do
		run_vsk device --vm "guest-cid=$v,socket=$tmp/s,uds-path=$tmp/u"
		expect_rc 2 "vsk device --vm guest-cid=$v" || return
		if ! has "$errout" "3..4294967294" || ! has "$errout" "0, 1 and 2 are reserved" ||
		   has "$errout" "0..4294967295"; then
			fail "guest-cid=$v: the rule is not said: $errout"
			return
		fi
	done
	pass
}
