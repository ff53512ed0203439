# vsk lab cases (POSIX sh; read by the host runner for the table, run by
# busybox sh inside the guest). Like the kernel's vsock_test, a table of
#   lab_case NAME ROLE SECONDS "what it shows"
# and one function t_NAME per case. ROLE picks the guest's modules:
#   loopback  vsock + vsock_loopback (local CID 1)
#   vhost     loopback + vhost_vsock (host side: local CID 2)
#   virtio    loopback + the g2h virtio transport, no device
# All traffic stays inside the guest (CID 1, or CID 2 in role vhost, which
# the kernel routes to loopback). Helpers: tests/lab/guest/lib.sh.

lab_case stream_send_recv     loopback 40  "seed scenario: vsk recv vsock:any:4050 + vsk send vsock:local:4050"
lab_case seqpacket_boundaries loopback 40  "vsock-seq: listen -o keeps data; each message echoed as one message"
lab_case many_clients         loopback 90  "20 concurrent connects to one --echo listener, each gets its own data"
lab_case proxy_vsock_unix     loopback 40  "vsk proxy vsock:any:5002 -> unix echo listener"
lab_case bulk_64mib           loopback 240 "64 MiB through loopback, same md5sum at both ends"
lab_case err_bind_cid2        loopback 20  "listen vsock:2 without vhost_vsock: EADDRNOTAVAIL, says not local"
lab_case err_bind_port80      loopback 20  "listen port 80 as uid 65534: EACCES, names CAP_NET_BIND_SERVICE"
lab_case err_addr_in_use      loopback 30  "listen vsock:1:6001 while vsock:any:6001 listens: says any"
lab_case err_connect_refused  loopback 20  "connect vsock:1:6999 with no listener: says nobody listens"
lab_case cid_loopback         loopback 20  "vsk cid: Local CID: 1, loopback transport; --json"
lab_case check_loopback       loopback 20  "vsk check exits 0 with loopback; --json"
lab_case bind_cid2_vhost      vhost    30  "with vhost_vsock, listen vsock:2:6000 works and is reachable"
lab_case cid_vhost            vhost    20  "vsk cid: Local CID: 2, host role; --json"
lab_case check_vhost          vhost    20  "vsk check exits 0 with vhost_vsock; --json"
lab_case cid_virtio           virtio   20  "vsk cid: virtio g2h transport present; --json"
lab_case check_virtio         virtio   20  "vsk check exits 0 with the virtio transport; --json"
lab_case dump_loopback        loopback 60  "vsk dump -w creates vsockmon0, records stream+seqpacket traffic, removes it"
lab_case dump_keep            loopback 40  "vsk dump --keep leaves vsockmon0; a second dump uses it and leaves it"
lab_case dump_pipe_closed     loopback 40  "vsk dump | head -n 1: the reader leaves, vsk dump still removes vsockmon0"
lab_case dump_no_vsockmon     loopback 20  "without the vsockmon module: one line naming modprobe vsockmon"
lab_case dump_slow_reader     loopback 90  "vsk dump records 1 MiB into a reader of 8 KiB per 20 ms: --conns counts FULL, --plot (live and from the file) shades the waits"
lab_case bench_loopback       loopback 150 "vsk bench -s + client over CID 1: stream up/-R/--bidir/--rr/--crr/--no-check and vsock-seq, data verified, clean ends"
lab_case bench_proxy_vsock    loopback 150 "vsk bench through vsk proxy vsock->vsock: stream both ways, vsock-seq messages kept whole"
lab_case device_vsock_stream  loopback 90  "vsk device --forward-cid 1 under a fake guest driver: stream both ways checksummed, half-close, RST, forward-listen, map to vsock:"
lab_case device_vsock_seq     loopback 60  "vsk device --forward-cid 1: SEQPACKET guest->host and back, messages whole while the host reads late"
lab_case device_dropin_vsock  loopback 40  "vhost-device-vsock README's vsock command lines and YAML start vsk device, forward-listen ports listen"
lab_case proxy_seq_stall      loopback 90  "vsk proxy vsock-seq: a client that reads nothing stalls its own sends only; another gets all its data meanwhile"

SEED_MSG="Hello, Host! This is a message from the VM."

t_stream_send_recv() {
	spawn recv vsk recv vsock:any:4050
	wait_listen vsock:any:4050 recv || fail "vsk recv does not listen: $(excerpt recv.out)"
	run send vsk send vsock:local:4050
	[ "$RC" = 0 ] || fail "vsk send exited $RC: $(excerpt send.err)"
	wait_rc recv 100 || fail "vsk recv still running 10 s after the sender left"
	sed 's/^/  recv: /' recv.out
	[ "$RC" = 0 ] || fail "vsk recv exited $RC: $(excerpt recv.out)"
	grep -qxF "VSOCK server is listening on CID=-1, port=4050..." recv.out ||
		fail "recv: no 'VSOCK server is listening on CID=-1, port=4050...'"
	grep -qxE "Client connected: CID=1, port=[0-9]+" recv.out ||
		fail "recv: no 'Client connected: CID=1, port=<n>'"
	grep -qxF "Received message: $SEED_MSG" recv.out ||
		fail "recv: no 'Received message: $SEED_MSG'"
	[ "$(tail -n 1 recv.out)" = "Server closed." ] || fail "recv: last line is not 'Server closed.'"
	grep -qxF "Connected to host: CID=1, port=4050" send.out ||
		fail "send: no 'Connected to host: CID=1, port=4050': $(excerpt send.out)"
	grep -qxF "Sent message to host: $SEED_MSG" send.out ||
		fail "send: no 'Sent message to host: $SEED_MSG'"
	[ "$(tail -n 1 send.out)" = "Connection closed." ] || fail "send: last line is not 'Connection closed.'"
}

t_seqpacket_boundaries() {
	# 1. vsk listen -o FILE receives three messages intact.
	spawn lis vsk listen vsock-seq:any:5000 --once -o got
	wait_listen vsock-seq:any:5000 lis || fail "vsk listen vsock-seq:any:5000 does not listen: $(excerpt lis.out)"
	{ printf one; sleep 0.3; printf two; sleep 0.3; printf three; } |
		timeout 10 vsk connect vsock-seq:1:5000 >conn.out 2>conn.err ||
		fail "vsk connect vsock-seq:1:5000 failed: $(excerpt conn.err)"
	wait_rc lis 50 || fail "vsk listen --once still running after its client left"
	[ "$RC" = 0 ] || fail "vsk listen exited $RC: $(excerpt lis.out)"
	[ "$(cat got)" = onetwothree ] || fail "listen -o got '$(excerpt got)', want 'onetwothree'"
	# 2. boundaries: an independent SOCK_SEQPACKET peer sends three messages
	# of different sizes to an --echo listener and must get each back as
	# exactly one message.
	spawn echo vsk listen vsock-seq:any:5010 --echo
	wait_listen vsock-seq:any:5010 echo || fail "vsk listen vsock-seq:any:5010 --echo does not listen: $(excerpt echo.out)"
	seqpeer send 5010 a bbbbbbbbbb "$(printf '%01000d' 7)" >peer.out 2>&1
	_rc=$?
	cat peer.out
	[ "$_rc" = 0 ] || fail "echoed messages lost their boundaries: $(excerpt peer.out)"
	# 3. vsk connect sends each stdin chunk as one message.
	spawn peer seqpeer recv 5011 3
	wait_listen vsock-seq:any:5011 peer || fail "seqpeer recv did not start: $(excerpt peer.out)"
	{ printf one; sleep 0.5; printf twotwo; sleep 0.5; printf three33; } |
		timeout 10 vsk connect vsock-seq:1:5011 >c2.out 2>c2.err
	wait_rc peer 50 || fail "seqpeer recv did not finish"
	cat peer.out
	[ "$(grep '^msg' peer.out | tr '\n' ' ')" = "msg 3 one msg 6 twotwo msg 7 three33 " ] ||
		fail "vsk connect vsock-seq: messages arrived as: $(grep '^msg' peer.out | tr '\n' ' ')"
}

t_many_clients() {
	spawn lis vsk listen vsock:any:5001 --echo
	wait_listen vsock:1:5001 lis || fail "listener on vsock:any:5001 does not listen: $(excerpt lis.out)"
	for _i in $(seq 20); do
		printf 'client %02d says %s\n' "$_i" "$(seq -s, "$_i")" >in.$_i
		spawn c$_i sh -c "timeout 30 vsk connect vsock:1:5001 <in.$_i"
	done
	_bad=
	for _i in $(seq 20); do
		wait_rc c$_i 400 || { _bad="$_bad $_i(hung)"; continue; }
		[ "$RC" = 0 ] || { _bad="$_bad $_i(exit $RC)"; continue; }
		cmp -s in.$_i c$_i.out || _bad="$_bad $_i(wrong data)"
	done
	[ -z "$_bad" ] || fail "clients failed:$_bad; e.g. $(excerpt c1.out 2)"
	still_running lis || fail "listener exited: $(excerpt lis.out)"
}

t_proxy_vsock_unix() {
	spawn lis vsk listen unix:/tmp/u.sock --echo
	wait_listen unix:/tmp/u.sock lis || fail "echo listener on unix:/tmp/u.sock does not listen: $(excerpt lis.out)"
	spawn proxy vsk proxy vsock:any:5002 unix:/tmp/u.sock
	wait_listen vsock:1:5002 proxy || fail "proxy on vsock:any:5002 does not listen: $(excerpt proxy.out)"
	for _i in 1 2 3; do
		seq 1000 | sed "s/^/$_i:/" >in.$_i
		run c$_i vsk connect vsock:1:5002 <in.$_i
		[ "$RC" = 0 ] || fail "client $_i through the proxy exited $RC: $(excerpt c$_i.err)"
		cmp -s in.$_i c$_i.out || fail "client $_i got $(wc -c <c$_i.out) bytes back, want $(wc -c <in.$_i)"
	done
	still_running proxy || fail "proxy exited: $(excerpt proxy.out)"
}

t_bulk_64mib() {
	head -c 67108864 /dev/urandom >/tmp/bulk.in || skip "no room for 64 MiB in the guest's /tmp"
	_want=$(md5sum </tmp/bulk.in | cut -d' ' -f1)
	spawn lis vsk listen vsock:any:5003 --once -o /tmp/bulk.out
	wait_listen vsock:any:5003 lis || fail "vsk listen vsock:any:5003 does not listen: $(excerpt lis.out)"
	_t0=$(date +%s)
	timeout 200 vsk connect vsock:1:5003 </tmp/bulk.in >conn.out 2>conn.err ||
		fail "vsk connect vsock:1:5003 failed: $(excerpt conn.err)"
	wait_rc lis 300 || fail "vsk listen --once still running 30 s after the sender finished"
	[ "$RC" = 0 ] || fail "vsk listen exited $RC: $(excerpt lis.out)"
	echo "64 MiB in $(( $(date +%s) - _t0 )) s"
	_got=$(md5sum </tmp/bulk.out | cut -d' ' -f1)
	[ "$_got" = "$_want" ] ||
		fail "md5 $_got of $(wc -c </tmp/bulk.out) bytes received, want $_want of 67108864"
	rm -f /tmp/bulk.in /tmp/bulk.out
}

t_err_bind_cid2() {
	expect_error l "not local" vsk listen vsock:2:6000
}

t_err_bind_port80() {
	run who dropuid id -u
	[ "$(cat who.out)" = 65534 ] || fail "dropuid did not drop to uid 65534: $(excerpt who.err)"
	expect_error l "CAP_NET_BIND_SERVICE" dropuid vsk listen vsock:any:80
}

t_err_addr_in_use() {
	spawn any vsk listen vsock:any:6001
	wait_listen vsock:1:6001 any || fail "first listener on vsock:any:6001 does not listen: $(excerpt any.out)"
	expect_error l "any" vsk listen vsock:1:6001
}

t_err_connect_refused() {
	expect_error c "nobody|no one|not listen|listening" vsk connect vsock:1:6999 </dev/null
}

# json_ok FILE KEY: looks like one JSON object holding "KEY" (no jq here).
json_ok() {
	[ "$(head -c 1 "$1")" = "{" ] || fail "--json output does not begin with '{': $(excerpt "$1")"
	[ "$(tr -d ' \n\t\r' <"$1" | tail -c 1)" = "}" ] || fail "--json output does not end with '}'"
	grep -q "\"$2\"" "$1" || fail "--json output has no \"$2\" key: $(excerpt "$1")"
}

# cid_case CID WORDS: vsk cid prints "Local CID: CID" first and matches WORDS;
# --json has the same local_cid (keys: man/vsk-cid.1).
cid_case() {
	run cid vsk cid
	[ "$RC" = 0 ] || fail "vsk cid exited $RC: $(excerpt cid.err)"
	[ "$(head -n 1 cid.out)" = "Local CID: $1" ] ||
		fail "first line '$(head -n 1 cid.out)', want 'Local CID: $1'"
	grep -qiE -- "$2" cid.out || fail "vsk cid output does not match /$2/"
	run json vsk cid --json
	[ "$RC" = 0 ] || fail "vsk cid --json exited $RC: $(excerpt json.err)"
	json_ok json.out local_cid
	grep -q "\"local_cid\": *$1[,}]" json.out || fail "--json local_cid is not $1: $(excerpt json.out)"
}

# check_case TEXT JSON: vsk check exits 0 and its text matches the regexp
# TEXT; --json says usable and matches JSON (keys: man/vsk-check.1).
check_case() {
	run chk vsk check
	[ "$RC" = 0 ] || fail "vsk check exited $RC where vsock is usable: $(excerpt chk.out)"
	grep -qiE -- "$1" chk.out || fail "vsk check output does not match /$1/"
	run json vsk check --json
	[ "$RC" = 0 ] || fail "vsk check --json exited $RC: $(excerpt json.err)"
	json_ok json.out usable
	grep -q '"usable": *true' json.out || fail "--json does not say \"usable\":true: $(excerpt json.out)"
	grep -qE -- "$2" json.out || fail "--json does not match /$2/"
}

t_cid_loopback() { cid_case 1 "loopback"; }
t_cid_vhost() { cid_case 2 "host|h2g|vhost"; }
t_cid_virtio() { cid_case 1 "g2h.*virtio"; }
t_check_loopback() { check_case "usable.*role loopback" '"role": *"loopback only"'; }
t_check_vhost() { check_case "usable.*role host" '"role": *"host"'; }
t_check_virtio() { check_case "usable" '"name": *"g2h", *"status": *"[a-z]+", *"detail": *"virtio'; }

t_bind_cid2_vhost() {
	spawn lis vsk listen vsock:2:6000 --echo
	# In this role no g2h transport exists, so CID 2 is local and the kernel
	# takes connections to it over loopback.
	wait_listen vsock:2:6000 lis || fail "listen vsock:2:6000 does not listen: $(excerpt lis.out)"
	echo "cid two" >in
	run c vsk connect vsock:2:6000 <in
	[ "$RC" = 0 ] || fail "vsk connect vsock:2:6000 exited $RC: $(excerpt c.err)"
	cmp -s in c.out || fail "echo through vsock:2:6000 returned '$(excerpt c.out)'"
}

# The seed scenario for tests/lab/demo (not in the table).
t_demo_seed() {
	spawn recv vsk recv vsock:any:4050
	wait_listen vsock:any:4050 recv || fail "vsk recv does not listen: $(excerpt recv.out)"
	timeout 20 vsk send vsock:local:4050 >send.out 2>&1
	_src=$?
	wait_rc recv 100
	sed 's/^/DEMO receiver| /' recv.out
	sed 's/^/DEMO sender| /' send.out
	[ "$_src" = 0 ] || fail "vsk send exited $_src"
	[ "${RC:-x}" = 0 ] || fail "vsk recv exited ${RC:-(still running)}"
}

# ---- vsk dump (issue 4). vsk dump -r of what was recorded must show the
# expected CONNECT/PAYLOAD/DISCONNECT records; the capture is printed as
# base64 between PCAP-BEGIN/PCAP-END so tests/dump/lab-import can turn a kept
# console log into a golden capture under tests/dump/pcap/.

# dump_start FILE [ARGS]: vsk dump -w FILE in the background until it says
# it is listening; sets DUMP_PID.
dump_start() {
	__f=$1; shift
	echo "+ vsk dump -w $__f $* &"
	vsk dump -w "$__f" "$@" 2>"$__f.err" &
	DUMP_PID=$!
	wait_text "$__f.err" "listening on" 100 || fail "vsk dump did not start: $(excerpt "$__f.err")"
	cat "$__f.err"
}

# dump_stop: SIGINT, as ^C would; vsk dump must exit 0.
dump_stop() {
	sleep 0.3
	kill -INT "$DUMP_PID"
	wait "$DUMP_PID"
	__rc=$?
	[ "$__rc" = 0 ] || fail "vsk dump exited $__rc on SIGINT"
}

# One stream connection (the seed's) and one seqpacket message.
dump_traffic() {
	rm -f recv.* send.* lis.* got c.out c.err # a second round must not see the first's
	spawn recv vsk recv vsock:any:4050
	wait_listen vsock:any:4050 recv || fail "vsk recv does not listen: $(excerpt recv.out)"
	run send vsk send vsock:local:4050
	[ "$RC" = 0 ] || fail "vsk send exited $RC: $(excerpt send.err)"
	wait_rc recv 100 || fail "vsk recv still running after the sender left"
	spawn lis vsk listen vsock-seq:any:5000 --once -o got
	wait_listen vsock-seq:any:5000 lis || fail "vsk listen vsock-seq:any:5000 does not listen"
	printf one | timeout 10 vsk connect vsock-seq:1:5000 >c.out 2>c.err ||
		fail "vsk connect vsock-seq:1:5000 failed: $(excerpt c.err)"
	wait_rc lis 50 || fail "vsk listen --once still running after its client left"
}

t_dump_loopback() {
	[ -e /sys/class/net/vsockmon0 ] && fail "vsockmon0 exists before vsk dump ran"
	dump_start cap.pcap
	grep -q "vsockmon0 (created" cap.pcap.err || fail "vsk dump did not create vsockmon0: $(excerpt cap.pcap.err)"
	dump_traffic
	dump_stop
	[ -e /sys/class/net/vsockmon0 ] && fail "vsk dump left vsockmon0 behind"
	vsk dump -r cap.pcap >all.txt 2>&1 || fail "vsk dump -r cap.pcap: $(excerpt all.txt)"
	sed 's/^/  rec: /' all.txt
	_c=$(grep -c ' CONNECT, ' all.txt)
	_p=$(grep -c ' PAYLOAD, ' all.txt)
	_d=$(grep -c ' DISCONNECT, ' all.txt)
	echo "CONNECT $_c PAYLOAD $_p DISCONNECT $_d"
	# Two connections: REQUEST+RESPONSE each; the seed message and "one";
	# each connection ends with at least a SHUTDOWN and an RST.
	[ "$_c" = 4 ] || fail "$_c CONNECT records, want 4"
	[ "$_p" -ge 2 ] || fail "$_p PAYLOAD records, want >= 2"
	[ "$_d" -ge 4 ] || fail "$_d DISCONNECT records, want >= 4"
	grep -vq ' VIRTIO 1\.[0-9]* > 1\.[0-9]* ' all.txt && fail "a record not between CID 1 endpoints"
	vsk dump -r cap.pcap -X --op RW --type STREAM >x.txt 2>&1
	grep -q 'Hello, Host' x.txt || fail "-X shows no seed message: $(excerpt x.txt)"
	vsk dump -r cap.pcap -v --type SEQPACKET --op RW >v.txt 2>&1
	cat v.txt
	grep -q 'type SEQPACKET, op RW, flags EOM' v.txt || fail "-v shows no SEQPACKET RW with EOM"
	vsk dump -r cap.pcap --conns >conns.txt 2>&1
	cat conns.txt
	grep -q '^2 connections$' conns.txt || fail "--conns: $(excerpt conns.txt)"
	grep -q ' STREAM .* SHUTDOWN ' conns.txt || fail "--conns: no STREAM connection ended by SHUTDOWN"
	grep -q ' SEQPACKET .* SHUTDOWN ' conns.txt || fail "--conns: no SEQPACKET connection ended by SHUTDOWN"
	[ "$(vsk dump -r cap.pcap --json | grep -c '"record":"packet"')" = "$(wc -l <all.txt)" ] ||
		fail "--json does not give one object per record"
	echo "PCAP-BEGIN dump_loopback"
	base64 cap.pcap
	echo "PCAP-END"
}

t_dump_keep() {
	dump_start k.pcap --keep
	grep -q "created, kept" k.pcap.err || fail "vsk dump --keep: $(excerpt k.pcap.err)"
	dump_traffic
	dump_stop
	[ -e /sys/class/net/vsockmon0 ] || fail "vsk dump --keep removed vsockmon0"
	# An existing interface is used as is and left alone.
	dump_start k2.pcap
	grep -q "listening on vsockmon0, " k2.pcap.err || fail "second dump: $(excerpt k2.pcap.err)"
	dump_traffic
	dump_stop
	[ -e /sys/class/net/vsockmon0 ] || fail "vsk dump removed a vsockmon0 it had not created"
	[ "$(vsk dump -r k2.pcap --op CONNECT | wc -l)" = 4 ] || fail "second dump did not record 4 CONNECT"
	ip link del vsockmon0 || fail "ip link del vsockmon0"
}

t_dump_pipe_closed() {
	[ -e /sys/class/net/vsockmon0 ] && ip link del vsockmon0
	echo "+ vsk dump | head -n 1 &"
	( vsk dump 2>pipe.err | head -n 1 >head.out; echo done >pipe.rc ) &
	wait_text pipe.err "listening on" 100 || fail "vsk dump did not start: $(excerpt pipe.err)"
	dump_traffic
	wait_text pipe.rc done 100 || fail "vsk dump still running 10 s after its reader left"
	cat head.out pipe.err
	[ -e /sys/class/net/vsockmon0 ] && fail "vsockmon0 left behind after the reader left"
	grep -q ' VIRTIO 1\.[0-9]* > 1\.' head.out || fail "head got no record: $(excerpt head.out)"
}

t_dump_no_vsockmon() {
	[ -e /sys/class/net/vsockmon0 ] && ip link del vsockmon0
	rmmod vsockmon || skip "cannot unload the vsockmon module"
	run d vsk dump -c 1
	insmod /lib/vsk-modules/vsockmon.ko
	[ "$RC" = 1 ] || fail "vsk dump without vsockmon exited $RC, want 1"
	[ "$(wc -l <d.err)" = 1 ] || fail "want one line, got: $(excerpt d.err)"
	grep -q 'modprobe vsockmon' d.err || fail "does not say modprobe vsockmon: $(excerpt d.err)"
}

# The capture behind README's picture (tests/dump/pcap/lab-slow-reader.pcap,
# imported with tests/dump/lab-import): a stream sender far faster than its
# reader, which takes 8 KiB every 20 ms straight from the socket, so the
# sender keeps running into the reader's credit limit.  Linux 6.1 sends a
# CREDIT_UPDATE only once less than 64 KiB of the 256 KiB buffer is free by
# its last update: a stall for every 192 KiB read, at least three here.
t_dump_slow_reader() {
	[ -e /sys/class/net/vsockmon0 ] && ip link del vsockmon0
	# Live --plot too: written when SIGINT stops the capture.  -s 200:
	# headers only (64 KiB records made the kernel drop some on a loaded
	# host, and a live -s 76 kept only 60 bytes).
	dump_start full.pcap -s 200 --plot live.svg
	spawn lis vsk listen vsock:any:6100 --once --exec 'n=0
		while k=$(dd bs=8192 count=1 2>/dev/null | wc -c) && [ "$k" -gt 0 ]; do
			n=$((n + k)); usleep 20000
		done
		echo "$n" >got.count'
	wait_listen vsock:any:6100 lis || fail "vsk listen vsock:any:6100 does not listen: $(excerpt lis.out)"
	head -c 1048576 /dev/zero | timeout 60 vsk connect vsock:1:6100 >c.out 2>c.err ||
		fail "vsk connect vsock:1:6100 failed: $(excerpt c.err)"
	wait_rc lis 100 || fail "vsk listen --once still running after its client left"
	dump_stop
	grep 'dropped by the kernel' full.pcap.err && fail "vsockmon dropped records: $(excerpt full.pcap.err)"
	# The 76 header bytes alone, for a small file.
	vsk dump -r full.pcap -s 76 -w slow.pcap >w.out 2>&1 || fail "vsk dump -s 76 -w: $(excerpt w.out)"
	[ "$(cat got.count 2>/dev/null)" = 1048576 ] || fail "the reader got '$(cat got.count 2>/dev/null)' bytes, want 1048576"
	vsk dump -r slow.pcap --conns >conns.txt 2>&1 || fail "vsk dump --conns: $(excerpt conns.txt)"
	cat conns.txt
	grep -q '^1 connection$' conns.txt || fail "want 1 connection: $(excerpt conns.txt)"
	_full=$(vsk dump -r slow.pcap --conns --json | sed -n 's/.*"full_a":\([0-9]*\).*/\1/p')
	_cu=$(vsk dump -r slow.pcap --op CREDIT_UPDATE | wc -l)
	echo "FULL A $_full, CREDIT_UPDATE $_cu"
	[ "${_full:-0}" -ge 3 ] || fail "--conns counts FULL A ${_full:-none}, want >= 3 for a slow reader"
	[ "$_cu" -ge 3 ] || fail "$_cu CREDIT_UPDATE records, want >= 3"
	vsk dump -r slow.pcap --plot slow.svg >p.out 2>&1 || fail "vsk dump --plot: $(excerpt p.out)"
	_sh=$(grep -c 'class="stall"' slow.svg)
	echo "stall shades: $_sh"
	[ "$_sh" -ge 1 ] || fail "--plot shows no wait for credit"
	[ "$(tail -n 1 live.svg 2>/dev/null)" = "</svg>" ] || fail "live --plot wrote no whole SVG: $(excerpt live.svg)"
	[ "$(grep -c 'class="stall"' live.svg)" = "$_sh" ] ||
		fail "live --plot has $(grep -c 'class="stall"' live.svg) stall shades, the file's plot $_sh"
	echo "PCAP-BEGIN dump_slow_reader"
	base64 slow.pcap
	echo "PCAP-END"
}

# ---- vsk bench (issue 5): a bench server and its clients over vsock
# loopback; every byte is checked by vsk bench itself, and a reset or any
# other error at the end of a test is an error line on the server.

# bench_ok NAME REGEXP ARGS...: vsk bench ARGS exits 0 and prints REGEXP.
bench_ok() {
	__n=$1 __re=$2; shift 2
	run "$__n" vsk bench "$@"
	[ "$RC" = 0 ] || fail "vsk bench $* exited $RC: $(excerpt "$__n.err")"
	grep -qE -- "$__re" "$__n.out" || fail "vsk bench $*: output does not match /$__re/: $(excerpt "$__n.out")"
}

t_bench_loopback() {
	spawn srv vsk bench -s vsock:any:5201
	wait_listen vsock:any:5201 srv || fail "vsk bench -s vsock:any:5201 does not listen: $(excerpt srv.out)"
	bench_ok up '^up: 4194304 bytes in .* data verified$' -n 4M vsock:1:5201
	bench_ok down '^down: 4194304 bytes in .*, 2 connections, data verified$' -R -P 2 -n 2M vsock:1:5201
	bench_ok bidir '"up_bytes":2097152,"down_bytes":2097152,.*"verified":true,"interrupted":false,"error":null' \
		--bidir -n 2M -l 64K --json vsock:1:5201
	json_ok bidir.out up_bytes
	bench_ok rr '^rr: 500 round trips of 64 bytes in .* p99 .* data verified$' --rr -c 500 vsock:1:5201
	bench_ok crr '^crr: 50 connections of 64 bytes' --crr -c 50 vsock:1:5201
	bench_ok time '^up: [0-9]+ bytes in 1\.[0-9]+ s' -t 1 vsock:1:5201
	bench_ok nocheck '^up: 4194304 bytes in .* data not checked \(--no-check\)$' --no-check -n 4M vsock:1:5201
	spawn sseq vsk bench -s vsock-seq:any:5202
	wait_listen vsock-seq:any:5202 sseq || fail "vsk bench -s vsock-seq:any:5202 does not listen: $(excerpt sseq.out)"
	bench_ok sup '"socket":"seqpacket",.*"up_bytes":2000000,.*"verified":true' \
		-n 2000000 -l 32K --json vsock-seq:1:5202
	bench_ok sdown '^down: 1048576 bytes' -R -n 1M -l 4096 vsock-seq:1:5202
	bench_ok srr '^rr: 300 round trips of 1000 bytes' --rr -c 300 -l 1000 vsock-seq:1:5202
	sleep 0.5
	still_running srv || fail "the stream bench server exited: $(excerpt srv.out)"
	still_running sseq || fail "the seqpacket bench server exited: $(excerpt sseq.out)"
	sed 's/^/  srv: /' srv.out | head -n 20
	sed 's/^/  sseq: /' sseq.out
	# Errors on the server side (a reset at the end would be one).
	grep -q 'bench from' srv.out sseq.out && fail "a server reported: $(grep -h 'bench from' srv.out sseq.out | head -n 2 | tr '\n' '|')"
	# up 1 + down 2 + bidir 2 + rr 1 + time 1 on the stream server; the
	# seqpacket server checked every message's length as sent.
	[ "$(grep -c 'data verified$' srv.out)" = 7 ] || fail "stream server: $(grep -c 'data verified$' srv.out) verified connections, want 7"
	[ "$(grep -c 'data not checked (--no-check)$' srv.out)" = 1 ] || fail "stream server: no 'data not checked' line for the --no-check test"
	[ "$(grep -c ' seqpacket: .*data verified$' sseq.out)" = 3 ] || fail "seqpacket server: $(excerpt sseq.out)"
}

t_bench_proxy_vsock() {
	spawn srv vsk bench -s vsock:any:5301
	spawn sseq vsk bench -s vsock-seq:any:5303
	wait_listen vsock:any:5301 srv || fail "vsk bench -s vsock:any:5301 does not listen: $(excerpt srv.out)"
	wait_listen vsock-seq:any:5303 sseq || fail "vsk bench -s vsock-seq:any:5303 does not listen: $(excerpt sseq.out)"
	spawn px vsk proxy vsock:any:5302 vsock:1:5301
	spawn pxs vsk proxy vsock-seq:any:5304 vsock-seq:1:5303
	wait_listen vsock:any:5302 px || fail "vsk proxy vsock:any:5302 does not listen: $(excerpt px.out)"
	wait_listen vsock-seq:any:5304 pxs || fail "vsk proxy vsock-seq:any:5304 does not listen: $(excerpt pxs.out)"
	bench_ok up '^up: 16777216 bytes in .* data verified$' -n 16M vsock:1:5302
	bench_ok down '^down: 16777216 bytes in .* data verified$' -R -n 16M vsock:1:5302
	bench_ok rr '^rr: 300 round trips of 64 bytes' --rr -c 300 vsock:1:5302
	# Bulk SEQPACKET through the relay, big messages on 4 connections so the
	# relay's sends run short of credit: the server checks every message's
	# length as sent, so a message split or merged on the way fails.
	# --timeout 30000: blocking SEQPACKET sends on a loaded 2-core machine
	# once stalled the client's 10 s idle limit (load average 6).
	bench_ok sup '^up: 32000000 bytes in .*, 4 connections, data verified$' -n 8000000 -l 200000 -P 4 \
		--timeout 30000 vsock-seq:1:5304
	bench_ok sdown '^down: 8000000 bytes in .* data verified$' -R -n 8000000 -l 64K vsock-seq:1:5304
	bench_ok srr '^rr: 300 round trips of 4000 bytes' --rr -c 300 -l 4000 vsock-seq:1:5304
	sleep 0.5
	for _p in srv sseq px pxs; do still_running $_p || fail "$_p exited: $(excerpt $_p.out)"; done
	sed 's/^/  sseq: /' sseq.out
	grep -q 'bench from' srv.out sseq.out && fail "a server reported: $(grep -h 'bench from' srv.out sseq.out | head -n 2 | tr '\n' '|')"
	[ "$(grep -c ' seqpacket: .*data verified$' sseq.out)" = 6 ] || fail "seqpacket server: $(excerpt sseq.out)"
}

# ------------------------------------------------ vsk device, vsock back end
# vsk device runs here with --forward-cid 1 (vsock_loopback); its front end
# is fakevm (tests/lab/fakevm/), a vhost-user client with guest memory in a
# memfd that drives the rings as the Linux driver does and also plays the
# host programs on CID 1.

# dev_start NAME ARGS...: vsk device in the background (pid in DEV_PID).
dev_start() {
	__n=$1; shift
	echo "+ vsk device $* &"
	vsk device "$@" >"$__n.out" 2>&1 &
	DEV_PID=$!
}
dev_stop() {
	kill -TERM "$DEV_PID" 2>/dev/null
	wait "$DEV_PID"
	DEV_RC=$?
}
fakevm_ok() { # NAME ARGS...: fakevm must print "ok ..." and exit 0
	__n=$1; shift
	run "$__n" fakevm "$@"
	[ "$RC" = 0 ] && grep -q "^ok " "$__n.out" && return 0
	sed 's/^/  dev: /' dev.out 2>/dev/null | tail -n 15
	fail "fakevm $*: exit $RC: $(excerpt "$__n.out") $(excerpt "$__n.err")"
}

t_device_vsock_stream() {
	dev_start dev --guest-cid 4 --socket /tmp/fv.sock --forward-cid 1 --forward-listen 6001 \
		--map 6100=vsock:1:6101 --map 6102=vsock:1:6103 -v
	wait_listen unix:/tmp/fv.sock || fail "vsk device did not start: $(excerpt dev.out)"
	vsockdiag wait 6001 5 || fail "vsk device does not listen on vsock port 6001: $(excerpt dev.out)"
	fakevm_ok stream /tmp/fv.sock 4 stream 6000 1048576
	fakevm_ok refused /tmp/fv.sock 4 refused 6050
	fakevm_ok h2g /tmp/fv.sock 4 h2g 6001 262144
	fakevm_ok map /tmp/fv.sock 4 map 6100 6101
	# A map target that is down: RST, and the explained line in the log.
	fakevm_ok mapdown /tmp/fv.sock 4 refused 6102
	grep -q "vsock:1:6103" dev.out || fail "no log line naming the dead map target vsock:1:6103: $(excerpt dev.out 20)"
	kill -0 "$DEV_PID" || fail "vsk device died: $(excerpt dev.out)"
	dev_stop
	sed 's/^/  dev: /' dev.out | tail -n 12
	[ "$DEV_RC" = 0 ] || fail "vsk device exited $DEV_RC on SIGTERM"
}

t_device_vsock_seq() {
	dev_start dev --guest-cid 4 --socket /tmp/fs.sock --forward-cid 1 -v
	wait_listen unix:/tmp/fs.sock || fail "vsk device did not start: $(excerpt dev.out)"
	# 100000 + 200000 bytes outrun the host's 256 KiB while it sleeps.
	fakevm_ok seq /tmp/fs.sock 4 seq 6200 1 100000 200000 4096 150000 65536 7
	sed 's/^/  dev: /' dev.out | tail -n 12
	kill -0 "$DEV_PID" || fail "vsk device died: $(excerpt dev.out)"
	dev_stop
	[ "$DEV_RC" = 0 ] || fail "vsk device exited $DEV_RC on SIGTERM"
}

# dropin_start NAME ARGS...: vsk device starts with ARGS, listens on every
# vsock port in DROPIN_PORTS and every socket in DROPIN_SOCKS, exits 0.
dropin_start() {
	__d=$1; shift
	dev_start "$__d" "$@"
	for __s in $DROPIN_SOCKS; do
		wait_listen "unix:$__s" || fail "$__d: no socket $__s: $(excerpt "$__d.out")"
	done
	for __p in $DROPIN_PORTS; do
		vsockdiag wait "$__p" 5 || fail "$__d: nothing listens on vsock port $__p: $(excerpt "$__d.out")"
	done
	dev_stop
	[ "$DEV_RC" = 0 ] || fail "$__d: exit $DEV_RC: $(excerpt "$__d.out")"
	echo "  $__d: started, listened, exited 0"
}

t_device_dropin_vsock() {
	DROPIN_SOCKS=/tmp/vhost4.socket DROPIN_PORTS="9001 9002"
	dropin_start vm --vm guest-cid=4,forward-cid=1,forward-listen=9001+9002,socket=/tmp/vhost4.socket
	dropin_start flags --guest-cid=4 --socket=/tmp/vhost4.socket --forward-cid=1 --forward-listen=9001+9002 \
		--tx-buffer-size=65536 --queue-size=1024
	DROPIN_SOCKS="/tmp/vhost3.socket /tmp/vm3.vsock /tmp/vhost4.socket /tmp/vm4.vsock /tmp/vhost5.socket"
	dropin_start three --vm guest-cid=3,socket=/tmp/vhost3.socket,uds-path=/tmp/vm3.vsock,groups=group1+groupA \
		--vm guest-cid=4,socket=/tmp/vhost4.socket,uds-path=/tmp/vm4.vsock,tx-buffer-size=32768,queue-size=256 \
		--vm guest-cid=5,socket=/tmp/vhost5.socket,forward-cid=1,forward-listen=9001+9002,tx-buffer-size=32768,queue-size=1024
	# The README's YAML as written there.
	{
		echo "vms:"
		echo "    - guest_cid: 3"
		echo "      socket: /tmp/vhost3.socket"
		echo "      uds_path: /tmp/vm3.vsock"
		echo "      tx_buffer_size: 65536"
		echo "      queue_size: 1024"
		echo "      groups: group1+groupA"
		echo "    - guest_cid: 4"
		echo "      socket: /tmp/vhost4.socket"
		echo "      uds_path: /tmp/vm4.vsock"
		echo "      tx_buffer_size: 32768"
		echo "      queue_size: 256"
		echo "      groups: group2+groupB"
		echo "    - guest_cid: 5"
		echo "      socket: /tmp/vhost5.socket"
		echo "      forward-cid: 1"
		echo "      forward-listen: 9001+9002"
		echo "      tx_buffer_size: 32768"
		echo "      queue_size: 1024"
	} >vms.yaml
	dropin_start yaml --config=vms.yaml
	# A forward-listen port in use: one line naming it, exit 1.
	spawn hold vsk listen vsock:any:9003
	wait_listen vsock:any:9003 hold || fail "vsk listen vsock:any:9003 did not start"
	run busy vsk device --vm guest-cid=4,forward-cid=1,forward-listen=9003,socket=/tmp/vhost9.socket
	[ "$RC" = 1 ] || fail "forward-listen on a busy port exited $RC, want 1"
	grep -q "forward-listen.*9003" busy.err || fail "no line naming port 9003: $(excerpt busy.err)"
}

# ---- issue 12: a relay where no connection waits on another. A client
# that stops reading makes the proxy's sends to it wait for credit (on that
# connection's sender thread); another client of the same proxy must get
# all its data meanwhile, and the stalled one must get all of its own
# later, not a reset (the relay once sent blocking for up to 5 s and then
# reset the connection, every other one waiting meanwhile).
t_proxy_seq_stall() {
	head -c 1048576 /dev/urandom >/tmp/stall.big || skip "no room for 1 MiB in /tmp"
	_want=$(md5sum </tmp/stall.big | cut -d' ' -f1)
	spawn srv vsk listen vsock-seq:any:5403 --exec 'cat /tmp/stall.big'
	spawn px vsk proxy -v vsock-seq:any:5402 vsock-seq:1:5403
	wait_listen vsock-seq:any:5403 srv || fail "vsk listen vsock-seq:any:5403 does not listen: $(excerpt srv.out)"
	wait_listen vsock-seq:any:5402 px || fail "vsk proxy vsock-seq:any:5402 does not listen: $(excerpt px.out)"
	spawn hold seqpeer hold 5402 25
	wait_text hold.out connected 100 || fail "seqpeer hold did not connect: $(excerpt hold.out)"
	# Its 1 MiB is more than its credit: the proxy's sends to it now wait.
	sleep 2
	_t0=$(date +%s)
	timeout 20 vsk connect vsock-seq:1:5402 </dev/null >c2.out 2>c2.err ||
		fail "the second client failed: $(excerpt c2.err)"
	_t1=$(date +%s)
	_got=$(md5sum <c2.out | cut -d' ' -f1)
	[ "$_got" = "$_want" ] || fail "second client: md5 $_got of $(wc -c <c2.out) bytes, want $_want of 1048576"
	echo "second client: 1 MiB in $((_t1 - _t0)) s while the first one read nothing"
	still_running hold || fail "the stalled client ended early: $(excerpt hold.out)"
	wait_rc hold 400 || fail "seqpeer hold did not finish"
	cat hold.out
	grep -q "bytes, eof" hold.out || fail "the stalled client was not served to the end: $(excerpt hold.out)"
	grep -q " 1048576 bytes, eof" hold.out || fail "the stalled client got $(excerpt hold.out), want 1048576 bytes"
	still_running px || fail "the proxy exited: $(excerpt px.out)"
	rm -f /tmp/stall.big
}
