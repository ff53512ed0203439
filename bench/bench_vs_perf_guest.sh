# Guest side of bench/bench-vs-vsock_perf (busybox sh), installed as
# /lab/cases.sh and run by tests/lab/guest/init in a QEMU guest with vsock
# loopback (role loopback).  The host half is bench/bench-vs-vsock_perf,
# which sets RUNS, BYTES, LEN and VSK_ARGS in this file.
# Console lines the host reads:
#   MARK NAME start / MARK NAME end   around each run (the host reads QEMU's
#                                     CPU time there)
#   RESULT NAME GBITS                 NAME: perf.N (vsock_perf's receiver,
#                                     "rx performance"), checked.N (vsk
#                                     bench), nocheck.N (vsk bench
#                                     --no-check), extra.N (vsk bench
#                                     VSK_ARGS)

RUNS=${RUNS:-3}
BYTES=${BYTES:-1G}
LEN=${LEN:-128K}
VSK_ARGS=${VSK_ARGS:-}

con() { echo "$*" >/dev/console; }

# perf_run N: one vsock_perf transfer over CID 1; its receiver's figure.
perf_run() {
	spawn "prx$1" vsock_perf --port 1234 --buf-size "$LEN"
	wait_listen vsock:any:1234 "prx$1" || fail "vsock_perf receiver does not listen: $(excerpt "prx$1.out")"
	con "MARK perf.$1 start"
	timeout 300 vsock_perf --sender 1 --port 1234 --bytes "$BYTES" --buf-size "$LEN" >"ptx$1" 2>&1 ||
		fail "vsock_perf --sender exited $?: $(excerpt "ptx$1")"
	wait_rc "prx$1" 600 || fail "vsock_perf receiver still running 60 s after its sender"
	con "MARK perf.$1 end"
	[ "$RC" = 0 ] || fail "vsock_perf receiver exited $RC: $(excerpt "prx$1.out")"
	g=$(sed -n 's/^rx performance: *\([0-9.]*\).*/\1/p' "prx$1.out")
	[ -n "$g" ] || fail "no 'rx performance' line from vsock_perf: $(excerpt "prx$1.out")"
	con "RESULT perf.$1 $g"
}

# vsk_run MODE N ARGS...: one vsk bench client run; its Gbit/s.
vsk_run() {
	__m=$1 __i=$2; shift 2
	con "MARK $__m.$__i start"
	timeout 300 vsk bench "$@" -n "$BYTES" -l "$LEN" vsock:1:5201 >"vsk.$__m.$__i" 2>&1 ||
		fail "vsk bench $* -n $BYTES -l $LEN exited $?: $(excerpt "vsk.$__m.$__i")"
	con "MARK $__m.$__i end"
	g=$(sed -n 's/^up: .*(\([0-9.]*\) Gbit\/s).*/\1/p' "vsk.$__m.$__i")
	[ -n "$g" ] || fail "no 'up: ... Gbit/s' line from vsk bench: $(excerpt "vsk.$__m.$__i")"
	cat "vsk.$__m.$__i"
	con "RESULT $__m.$__i $g"
}

# The runs interleaved (perf, checked, no check, perf, ...) so that a
# change of load on the machine touches all alike.
t_bp_compare() {
	spawn srv vsk bench -s -q vsock:any:5201
	wait_listen vsock:any:5201 srv || fail "vsk bench -s does not listen: $(excerpt srv.out)"
	i=1
	while [ "$i" -le "$RUNS" ]; do
		perf_run "$i"
		vsk_run checked "$i"
		vsk_run nocheck "$i" --no-check
		# shellcheck disable=SC2086
		[ -z "$VSK_ARGS" ] || vsk_run extra "$i" $VSK_ARGS
		i=$((i + 1))
	done
	still_running srv || fail "the vsk bench server exited: $(excerpt srv.out)"
	[ ! -s srv.out ] || fail "the vsk bench server reported: $(excerpt srv.out)"
}
