# Fault boot of the `vsk device` lab, sourced by tests/lab/device (which
# provides start_device, qemu_start, verdict, report, ...).  One guest
# (CID 4) runs the faults one after the other; the host samples the
# device's open fds and RSS (/proc/PID) when the guest asks for it on port
# 5030, so "before" and "after" are taken in the same state (one sampler
# connection open).  Guest halves: t_dev_fault_* in device_cases.sh.
#
#   VSK_FAULT_N       connections for the flood and the churn (default 10000)
#   VSK_FAULT_RSS_KB  allowed device RSS growth, KiB (default 2048: a leak of
#                     one struct dev_conn, 224 bytes + malloc's 16, per
#                     connection over 10,000 connections is 2,340 KiB)
# With VSK_DEVICE_BIN (an ASan build) RSS is reported, not checked: ASan's
# quarantine keeps freed memory on purpose.  fds are always checked.
#
# Figures (fds, RSS, rates) go to the output as "device-lab: fault ..."
# lines, which docs/RELIABILITY.md quotes.

FAULT_N=${VSK_FAULT_N:-10000}
FAULT_RSS_KB=${VSK_FAULT_RSS_KB:-2048}
STALL_BYTES=67108864 # host -> guest while the guest does not read (64 MiB)

# fault_sample LABEL: "LABEL FDS RSS_KB" of the device into samples.
fault_sample() {
	local fds rss
	fds=$(ls "/proc/$DPID/fd" 2>/dev/null | wc -l)
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status" 2>/dev/null)
	echo "$1 ${fds:-?} ${rss:-?}" >>"$W/f/samples"
}
# fault_get LABEL FIELD (2 = fds, 3 = RSS KiB)
fault_get() { awk -v l="$1" -v f="$2" '$1 == l { v = $f } END { print v }' "$W/f/samples"; }

# fault_leak NAME BEFORE AFTER: fds equal, RSS growth within the bound.
fault_leak() {
	local fb fa rb ra
	fb=$(fault_get "$2" 2) fa=$(fault_get "$3" 2) rb=$(fault_get "$2" 3) ra=$(fault_get "$3" 3)
	echo "device-lab: fault $1: device fds $fb -> $fa, RSS $rb -> $ra KiB" >&2
	[ -n "$fb" ] && [ -n "$fa" ] || { echo "no samples $2/$3 (guest never asked)"; return; }
	[ "$fb" = "$fa" ] || { echo "device fds $fb before, $fa after: leaked $((fa - fb))"; return; }
	[ -n "${VSK_DEVICE_BIN:-}" ] || [ $((ra - rb)) -le "$FAULT_RSS_KB" ] ||
		echo "device RSS grew $((ra - rb)) KiB (bound $FAULT_RSS_KB KiB)"
}

fault_boot() {
	local U=$W/f/uds S=$W/f/vhost.sock err want got len hpid i
	mkdir -p "$W/f"
	: >"$W/f/samples"
	start_device fault --guest-cid 4 --socket "$S" --uds-path "$U"
	wait_file "$S" 5 || finish "vsk device did not create $S"
	# The sampler: the guest sends a label, gets "ok" once it is recorded.
	cat >"$W/f/sampler" <<-EOF
		#!/bin/sh
		read -r l
		fds=\$(ls /proc/$DPID/fd 2>/dev/null | wc -l)
		rss=\$(awk '/^VmRSS:/ { print \$2 }' /proc/$DPID/status 2>/dev/null)
		echo "\$l \$fds \$rss" >>"$W/f/samples"
		echo ok
	EOF
	chmod +x "$W/f/sampler"
	bg "$VSK" listen --exec "$W/f/sampler" unix:"${U}_5030" >"$W/f/sampler.out" 2>&1
	bg "$VSK" listen --echo unix:"${U}_5021" >"$W/f/echo.out" 2>&1
	# The host peer that leaves after 1 MiB (guest -> host direction).
	bg sh -c "'$VSK' listen --once unix:${U}_5050 | head -c 1048576 | md5sum >'$W/f/g2h-cut.md5'"
	wait_file "${U}_5030" 5 && wait_file "${U}_5021" 5 && wait_file "${U}_5050" 5 ||
		finish "host listeners did not start"
	make_initrd fault dev_fault_flood:120 dev_fault_churn:180 dev_fault_stall:90 dev_fault_cut_g2h:60 \
		dev_fault_cut_h2g:60 dev_fault_after:30
	fault_sample start
	qemu_start fault "$S" 420

	# Guest stops reading: host pushes 64 MiB into a guest port whose
	# reader sleeps; the device must not buffer what the guest refuses.
	STALL_ERR=
	if wait_console fault "READY dev_fault_stall" 300; then
		"$TOOL" pattern "$STALL_BYTES" | timeout 80 "$VSK" connect hybrid:"$U":5040 >/dev/null 2>"$W/f/stall.err" &
		hpid=$!
		for i in 1 2 3; do sleep 2; fault_sample "stall-$i"; done
		wait "$hpid" || STALL_ERR="host sender exited $?: $(head -c 200 "$W/f/stall.err")"
	else
		STALL_ERR="guest never reached the stall case"
	fi
	# Host client killed mid-transfer (host -> guest direction).
	CUT_ERR=
	if wait_console fault "READY dev_fault_cut_h2g" 120; then
		"$TOOL" pattern 4000000000 | "$VSK" connect hybrid:"$U":5060 >/dev/null 2>"$W/f/cut.err" &
		hpid=$!
		sleep 3
		kill -KILL "$hpid" 2>/dev/null # $! of a pipeline: its last command, vsk connect
		wait "$hpid" 2>/dev/null
	else
		CUT_ERR="guest never reached the cut case"
	fi
	qemu_wait fault
	fault_sample end

	# Flood of REQUESTs to a closed port: every one RST, nothing kept.
	err=$(fault_leak flood flood-before flood-after)
	grep -q "^flood $FAULT_N reset $FAULT_N " "$W/fault.txt" || err="${err:+$err; }$(grep -m1 '^flood ' "$W/fault.txt")"
	verdict fault dev_fault_flood "$err"
	grep -m1 "^flood " "$W/fault.txt" | sed 's/^/device-lab: fault /' >&2
	# Open/close churn: no fd or memory leak.
	err=$(fault_leak churn churn-before churn-after)
	verdict fault dev_fault_churn "$err"
	grep -m1 "^churn " "$W/fault.txt" | sed 's/^/device-lab: fault /' >&2
	# Credit exhausted: RSS during the stall within the bound of before.
	err=$STALL_ERR
	for i in 1 2 3; do
		got=$(fault_get "stall-$i" 3)
		[ -n "$got" ] && [ -z "${VSK_DEVICE_BIN:-}" ] && [ $((got - $(fault_get stall-before 3))) -gt "$FAULT_RSS_KB" ] &&
			err="${err:+$err; }device RSS $got KiB during the stall, $(fault_get stall-before 3) KiB before"
	done
	echo "device-lab: fault stall: device RSS before $(fault_get stall-before 3) KiB, during $(fault_get stall-1 3) $(fault_get stall-2 3) $(fault_get stall-3 3) KiB, after $(fault_get stall-after 3) KiB ($STALL_BYTES bytes pushed)" >&2
	want=$("$TOOL" pattern "$STALL_BYTES" | md5)
	got=$(sed -n 's/^MD5 stall \([0-9a-f]*\).*/\1/p' "$W/fault.txt" | head -n 1)
	[ "$got" = "$want" ] || err="${err:+$err; }guest md5 after the stall $got, want $want"
	verdict fault dev_fault_stall "$err"
	# The host's Unix peer left after 1 MiB: it got exactly the first MiB.
	want=$("$TOOL" pattern 1048576 | md5)
	got=$(cut -d' ' -f1 "$W/f/g2h-cut.md5" 2>/dev/null)
	err=
	[ "$got" = "$want" ] || err="host got md5 $got for the first MiB, want $want"
	verdict fault dev_fault_cut_g2h "$err"
	# The host client was killed: the guest got a prefix of the stream.
	err=$CUT_ERR
	len=$(sed -n 's/^CUT \([0-9]*\) .*/\1/p' "$W/fault.txt" | head -n 1)
	got=$(sed -n 's/^CUT [0-9]* \(.*\)/\1/p' "$W/fault.txt" | head -n 1 | tr -d '\r')
	if [ -z "$len" ]; then
		err="${err:+$err; }guest printed no CUT line"
	elif [ "$got" != ok ]; then
		err="${err:+$err; }guest's $len bytes are not the stream's first $len ($got)"
	else
		echo "device-lab: fault cut h2g: guest got $len bytes before the host client was killed, all intact" >&2
	fi
	verdict fault dev_fault_cut_h2g "$err"
	err=
	device_alive || err="vsk device died"
	[ -z "$err" ] && err=$(fault_leak all start end)
	verdict fault dev_fault_after "$err"
	stop_device
}

