# Guest side of the kernel suite lab (tests/lab/kernel), installed as
# /lab/cases.sh and run by tests/lab/guest/init in role "suite". Two guests
# boot from the same files: the server (CID 4) and the client (CID 5); their
# only vsock path is one `vsk device` on the host, and a virtio-net link
# between the two QEMUs carries the suites' TCP control channel.
#
# /lab/ks.conf (per guest):  KS_SIDE=server|client  KS_SELF=IP  KS_PEER=IP
#                            KS_PEER_CID=N
# /lab/ks.runs (one suite a line, run in order):  BINARY PORT [ARGS...]
#
# For every suite this prints its output with each line prefixed
# "KS BINARY " and then "KS_RC BINARY STATUS"; tests/lab/kernel makes the
# per-case PASS/FAIL/SKIP lines out of both guests' output.

# The client connects to a suite's control port once, without retry, so it
# must not try before the server listens. The server says so by accepting
# one connection on PORT+100 (busybox nc) once the suite listens; the
# client polls that port, which is harmless to connect to early.
KS_GO=100

# ks_listening PORT: a TCP socket of this guest listens on PORT.
ks_listening() {
	netstat -ltn 2>/dev/null | awk -v p=":$1" '$4 ~ p "$" { f = 1 } END { exit !f }'
}

# ks_wait_go PORT TENTHS: until the server's go port takes a connection.
ks_wait_go() {
	__i=0
	while [ "$__i" -lt "$2" ]; do
		nc -w 2 "$KS_PEER" "$1" </dev/null >/dev/null 2>&1 && return 0
		sleep 0.2; __i=$((__i + 2))
	done
	return 1
}

t_kernel_suites() {
	. /lab/ks.conf
	ip link set lo up
	ip addr add "$KS_SELF/16" dev eth0 || fail "ip addr add $KS_SELF/16 dev eth0 failed (no virtio-net?)"
	ip link set eth0 up || fail "ip link set eth0 up failed"
	while read -r bin port args; do
		[ -n "$bin" ] || continue
		if [ "$KS_SIDE" = server ]; then
			# shellcheck disable=SC2086  # args are separate options
			( "$bin" --mode=server --control-port="$port" --peer-cid="$KS_PEER_CID" $args \
				>"$bin.out" 2>&1; echo $? >"$bin.rc" ) &
			__i=0
			while ! ks_listening "$port" && [ ! -s "$bin.rc" ] && [ "$__i" -lt 100 ]; do
				sleep 0.1; __i=$((__i + 1))
			done
			if ks_listening "$port"; then
				# One connection, closed at once: "the server listens".
				nc -l -p $((port + KS_GO)) -e true
				wait_rc "$bin" 3000
			fi
			[ -s "$bin.rc" ] || echo "(no exit status: $bin still running or never listened on $port)" >>"$bin.out"
		else
			if ks_wait_go $((port + KS_GO)) 900; then
				# shellcheck disable=SC2086
				"$bin" --mode=client --control-host="$KS_PEER" --control-port="$port" \
					--peer-cid="$KS_PEER_CID" $args >"$bin.out" 2>&1
				echo $? >"$bin.rc"
			else
				echo "the server guest never said its $bin listens (port $((port + KS_GO)))" >"$bin.out"
			fi
		fi
		sed "s/^/KS $bin /" "$bin.out"
		echo "KS_RC $bin $(cat "$bin.rc" 2>/dev/null || echo none)"
	done </lab/ks.runs
}
