# Guest side of bench/device-lab (busybox sh), installed as /lab/cases.sh and
# run by tests/lab/guest/init in a QEMU guest whose virtio-vsock driver
# talks to `vsk device` on the host.  The host half is bench/device-lab.
# Console lines the host acts on (written straight to /dev/console, so they
# appear while the case runs):
#   MARK NAME start / MARK NAME end   around each timed run (the host reads
#                                     CPU times and the device's RSS there)
#   RESULT NAME {json}                vsk bench --json of that run
#   READY NAME                        the guest side listens
# SECS (run length) and COUNTS (scaling) are set by the host in this file.

SECS=${SECS:-5}
COUNTS=${COUNTS:-"1 10 100 1000"}
HOSTPORT=5201

con() { echo "$*" >/dev/console; }

# timed NAME ARGS...: one vsk bench client run between markers.
timed() {
	__n=$1; shift
	con "MARK $__n start"
	timeout $((SECS * 4 + 60)) vsk bench --json "$@" >"$__n.json" 2>"$__n.err"
	__rc=$?
	con "MARK $__n end"
	[ "$__rc" = 0 ] || fail "vsk bench $* exited $__rc: $(excerpt "$__n.err")"
	con "RESULT $__n $(tr -d '\n' <"$__n.json")"
}

# The same guest's loopback (CID 1): both ends in the guest.
t_bl_loopback() {
	spawn srv vsk bench -s -q vsock:any:5301
	wait_listen vsock:any:5301 srv || fail "vsk bench -s vsock:any:5301 does not listen"
	timed loop-send -t "$SECS" vsock:1:5301
	timed loop-recv -R -t "$SECS" vsock:1:5301
}

# Guest-initiated connections through vsk device to the host's
# `vsk bench -s hybrid:UDS:5201`: guest -> host, and -R host -> guest.
t_bl_device() {
	timed dev-g2h -t "$SECS" vsock:2:$HOSTPORT
	timed dev-h2g -R -t "$SECS" vsock:2:$HOSTPORT
}

# Host-initiated: the host runs `vsk bench hybrid:UDS:5202` against this
# server, then says it is done by connecting to 5203.
t_bl_hostinit() {
	spawn srv vsk bench -s -q vsock:any:5202
	wait_listen vsock:any:5202 srv || fail "vsk bench -s vsock:any:5202 does not listen"
	spawn fin vsk listen --once -o got.txt vsock:any:5203
	wait_listen vsock:any:5203 fin || fail "vsk listen vsock:any:5203 does not listen"
	con "READY bl_hostinit"
	wait_rc fin $(((SECS * 4 + 60) * 10)) || fail "the host never said it was done"
	grep -q ok got.txt || fail "host: $(excerpt got.txt)"
}

# N connections at once through the device, 64 KiB writes.
t_bl_scale() {
	ulimit -n 8192
	for n in $COUNTS; do
		timed "scale-$n" -P "$n" -l 64K -t "$SECS" vsock:2:$HOSTPORT
	done
	# The host reads QEMU's CPU time at the last marker: stay up for it.
	sleep 2
}
