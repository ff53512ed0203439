# tests/cli: the servers and clients (listen, connect, proxy, recv,
# bench -s): '-', ephemeral ports reported, signals and socket files,
# --once with stdin, output errors, --exec's status, wording.  Unix
# sockets and tcp:127.0.0.1 only; vsock is at most bound (vsock:any:any).

# vsock_bindable: AF_VSOCK sockets can be made here (bind and listen only).
vsock_bindable() {
	python3 -c 'import socket; socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM).close()' 2>/dev/null
}

# bg_vsk OUT ERR ARGS...: vsk in the background, stdin from /dev/null;
# sets $pid.
bg_vsk() {
	local o=$1 e=$2
	shift 2
	"$VSK" "$@" </dev/null >"$o" 2>"$e" &
	pid=$!
	bgpids+=("$pid")
}

case_add serve_dash_refused "'-' where it means nothing (connect, listen, bench, recv, send, proxy - -): one line saying what to use, exit 2"
t_serve_dash_refused() {
	local args want
	while IFS='|' read -r args want; do
		# shellcheck disable=SC2086
		run_vsk $args
		expect_rc 2 "vsk $args" || return
		if [ "$(wc -l <<<"$errout")" != 2 ] || [[ $(head -1 <<<"$errout") != "vsk ${args%% *}: "*"$want"* ]]; then
			fail "vsk $args: want 'vsk ${args%% *}: ...$want...' and the hint, got: $errout"
			return
		fi
	done <<'LIST'
connect -|vsk proxy ADDR -
listen -|vsk proxy ADDR -
listen --once -|--once -N ADDR
proxy - -|one of FROM and TO must be a socket address
bench -|'-' is no address
bench -s -|'-' is no address
recv -|'-' is no address
send -|vsk connect ADDR
LIST
	pass
}

case_add serve_proxy_to_stdio "proxy unix:P - accepts one client, relays it to stdin/stdout both ways, exits 0, removes P"
t_serve_proxy_to_stdio() {
	local s=$tmp/p.sock got
	printf 'to the client' | "$VSK" proxy unix:"$s" - >"$tmp/p.out" 2>"$tmp/p.err" &
	pid=$!
	bgpids+=("$pid")
	wait_sock "$s" || { fail "proxy made no socket: $(cat "$tmp/p.err")"; return; }
	got=$(printf 'from the client' | timeout 10 "$VSK" connect unix:"$s" 2>"$tmp/c.err")
	rc=$?
	[ "$rc" = 0 ] || { fail "the client exited $rc: $(cat "$tmp/c.err")"; return; }
	wait_pid "$pid" 10
	rc=$?
	[ "$rc" = 0 ] || { fail "proxy exited $rc: $(cat "$tmp/p.err")"; return; }
	[ "$got" = "to the client" ] || { fail "the client got '$got', want proxy's stdin"; return; }
	[ "$(cat "$tmp/p.out")" = "from the client" ] || { fail "proxy's stdout: '$(cat "$tmp/p.out")'"; return; }
	[ -e "$s" ] && { fail "proxy left $s"; return; }
	pass
}

case_add serve_proxy_from_stdio "proxy - unix:P connects and relays stdin/stdout (an echo server answers), exit 0"
t_serve_proxy_from_stdio() {
	local s=$tmp/e.sock got
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --echo unix:"$s"
	wait_sock "$s" || { fail "listen made no socket"; return; }
	got=$(printf 'echo me' | timeout 10 "$VSK" proxy - unix:"$s" 2>"$tmp/p.err")
	rc=$?
	kill "$pid"
	expect_rc 0 "vsk proxy - unix:$s" || return
	[ "$got" = "echo me" ] || { fail "got '$got', want 'echo me'"; return; }
	run_vsk proxy - unix:"$tmp/nobody.sock"
	expect_rc 1 "vsk proxy - to a socket nobody listens on" || return
	[[ $errout == "vsk: connect unix:$tmp/nobody.sock"* ]] || { fail "no connect message: $errout"; return; }
	pass
}

# port_of TEXT PREFIX: the number after PREFIX in TEXT ("" if none).
port_of() {
	sed -n "s/.*$2\([0-9][0-9]*\).*/\1/p" <<<"$1" | head -1
}

case_add serve_ephemeral_tcp "listen -v, proxy -v, bench -s on tcp:127.0.0.1:0 name the port bound, and it is the one served"
t_serve_ephemeral_tcp() {
	local port got
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen -v --once tcp:127.0.0.1:0
	wait_file "$tmp/l.err" "listening on" || { fail "listen -v printed no 'listening on'"; kill "$pid"; return; }
	port=$(port_of "$(cat "$tmp/l.err")" "listening on tcp:127\.0\.0\.1:")
	if [ -z "$port" ] || [ "$port" = 0 ]; then
		fail "listen -v: $(cat "$tmp/l.err") (want the bound port)"
		kill "$pid"
		return
	fi
	printf 'on port %s' "$port" | timeout 10 "$VSK" connect tcp:127.0.0.1:"$port" 2>"$tmp/c.err"
	wait_pid "$pid" 10 || { fail "listen --once: exit $?: $(cat "$tmp/l.err")"; return; }
	[ "$(cat "$tmp/l.out")" = "on port $port" ] || { fail "listen got '$(cat "$tmp/l.out")'"; return; }

	bg_vsk "$tmp/p.out" "$tmp/p.err" proxy -v tcp:127.0.0.1:0 unix:"$tmp/x.sock"
	wait_file "$tmp/p.err" "proxy " || { fail "proxy -v printed nothing"; kill "$pid"; return; }
	got=$(cat "$tmp/p.err")
	kill "$pid"
	port=$(port_of "$got" "proxy tcp:127\.0\.0\.1:")
	if [ -z "$port" ] || [ "$port" = 0 ]; then
		fail "proxy -v: $got"
		return
	fi

	bg_vsk "$tmp/b.out" "$tmp/b.err" bench -s tcp:127.0.0.1:0
	wait_file "$tmp/b.err" "listening on" || { fail "bench -s printed nothing"; kill "$pid"; return; }
	got=$(cat "$tmp/b.err")
	port=$(port_of "$got" "listening on tcp:127\.0\.0\.1:")
	if [ -z "$port" ] || [ "$port" = 0 ]; then
		kill "$pid"
		fail "bench -s: $got"
		return
	fi
	run_vsk bench -n 64K tcp:127.0.0.1:"$port"
	kill "$pid"
	expect_rc 0 "vsk bench against the reported port" || return
	pass
}

case_add serve_ephemeral_vsock "listen -v vsock:any:any and recv vsock:any:any name the port the kernel chose (bind and listen only)"
t_serve_ephemeral_vsock() {
	local got
	vsock_bindable || { skip "no AF_VSOCK here"; return; }
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen -v vsock:any:any
	wait_file "$tmp/l.err" "listening on" || { fail "listen -v printed no 'listening on'"; kill "$pid"; return; }
	got=$(cat "$tmp/l.err")
	kill "$pid"
	grep -qxE "vsk: listening on vsock:any:[0-9]+" <<<"$got" || { fail "listen -v: $got"; return; }
	bg_vsk "$tmp/r.out" "$tmp/r.err" recv vsock:any:any
	wait_file "$tmp/r.out" "listening" || { fail "recv printed nothing: $(cat "$tmp/r.err")"; kill "$pid"; return; }
	got=$(cat "$tmp/r.out")
	kill "$pid"
	# The seed's line; CID any is -1 there (%d of VMADDR_CID_ANY), the port a number.
	grep -qxE "VSOCK server is listening on CID=-1, port=[0-9]+\.\.\." <<<"$got" ||
		{ fail "recv: $got"; return; }
	pass
}

# serve_start KIND DIR: one server of KIND with a Unix socket file in DIR;
# sets $pid and $sockfile.
serve_start() {
	case $1 in
	listen) sockfile=$2/s.sock; bg_vsk "$2/out" "$2/err" listen unix:"$sockfile" ;;
	proxy) sockfile=$2/s.sock; bg_vsk "$2/out" "$2/err" proxy unix:"$sockfile" unix:"$2/to.sock" ;;
	proxy-stdio) sockfile=$2/s.sock; bg_vsk "$2/out" "$2/err" proxy unix:"$sockfile" - ;;
	bench) sockfile=$2/s.sock; bg_vsk "$2/out" "$2/err" bench -s unix:"$sockfile" ;;
	hybrid) sockfile=$2/h_5000; bg_vsk "$2/out" "$2/err" listen hybrid:"$2/h":5000 ;;
	recv) sockfile=$2/h_4050; bg_vsk "$2/out" "$2/err" recv --hybrid "$2/h" ;;
	esac
}

case_add serve_signals_clean "SIGINT, SIGTERM, SIGHUP stop listen, proxy, bench -s, listen hybrid:, recv --hybrid: exit 0, socket file gone"
t_serve_signals_clean() {
	local kind sig d
	for kind in listen proxy proxy-stdio bench hybrid recv; do
		for sig in INT TERM HUP; do
			d=$tmp/$kind-$sig
			mkdir -p "$d"
			serve_start "$kind" "$d"
			wait_sock "$sockfile" || { fail "$kind: no socket $sockfile: $(cat "$d/err")"; kill "$pid"; return; }
			kill -"$sig" "$pid"
			wait_pid "$pid" 10
			rc=$?
			[ "$rc" = 0 ] || { fail "$kind after SIG$sig: exit $rc, want 0: $(cat "$d/err")"; return; }
			[ -e "$sockfile" ] && { fail "$kind after SIG$sig left $sockfile"; return; }
		done
	done
	# recv still ends its seed output after a signal.
	[ "$(tail -n 1 "$tmp/recv-INT/out")" = "Server closed." ] || { fail "recv: no 'Server closed.' after SIGINT"; return; }
	pass
}

case_add serve_once_removes "a normal end removes the socket file: listen --once, listen --once hybrid:, proxy P -, recv --hybrid"
t_serve_once_removes() {
	local kind d args
	for kind in listen hybrid proxy recv; do
		d=$tmp/$kind
		mkdir -p "$d"
		case $kind in
		listen) sockfile=$d/s.sock; args=(listen --once unix:"$sockfile") ;;
		hybrid) sockfile=$d/h_5000; args=(listen --once hybrid:"$d/h":5000) ;;
		proxy) sockfile=$d/s.sock; args=(proxy unix:"$sockfile" -) ;;
		recv) sockfile=$d/h_4050; args=(recv --hybrid "$d/h") ;;
		esac
		bg_vsk "$d/out" "$d/err" "${args[@]}"
		wait_sock "$sockfile" || { fail "$kind: no socket $sockfile"; kill "$pid"; return; }
		printf 'one client' | timeout 10 "$VSK" connect unix:"$sockfile" >/dev/null 2>"$d/c.err"
		wait_pid "$pid" 10
		rc=$?
		[ "$rc" = 0 ] || { fail "$kind: exit $rc: $(cat "$d/err")"; return; }
		grep -q "one client" "$d/out" || { fail "$kind: the data did not arrive: $(cat "$d/out")"; return; }
		[ -e "$sockfile" ] && { fail "$kind left $sockfile after its one client"; return; }
	done
	pass
}

case_add serve_keeps_foreign_files "a socket systemd passed is not removed; neither is a file put where ours was"
t_serve_keeps_foreign_files() {
	local s=$tmp/sd.sock
	python3 "$top/tests/eco/sdactivate.py" "$s" "$VSK" listen -v --systemd </dev/null >/dev/null 2>"$tmp/sd.err" &
	pid=$!
	bgpids+=("$pid")
	wait_file "$tmp/sd.err" "listening on" || { fail "listen --systemd did not start: $(cat "$tmp/sd.err")"; kill "$pid"; return; }
	kill -TERM "$pid"
	wait_pid "$pid" 10
	rc=$?
	[ "$rc" = 0 ] || { fail "listen --systemd after SIGTERM: exit $rc"; return; }
	[ -S "$s" ] || { fail "listen --systemd removed systemd's socket $s"; return; }
	# Ours replaced by another socket while we run: that one stays.
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen unix:"$tmp/r.sock"
	wait_sock "$tmp/r.sock" || { fail "listen made no socket"; kill "$pid"; return; }
	rm -f "$tmp/r.sock"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$tmp/r.sock"
	kill -TERM "$pid"
	wait_pid "$pid" 10
	[ -S "$tmp/r.sock" ] || { fail "listen removed a socket file it did not bind"; return; }
	pass
}

case_add serve_systemd_wording "listen -v --systemd names the socket in vsk's format: unix:PATH, tcp:127.0.0.1:PORT (systemd fd 3)"
t_serve_systemd_wording() {
	local s=$tmp/sd.sock got
	python3 "$top/tests/eco/sdactivate.py" "$s" "$VSK" listen -v --systemd </dev/null >/dev/null 2>"$tmp/sd.err" &
	pid=$!
	bgpids+=("$pid")
	wait_file "$tmp/sd.err" "listening on" || { fail "listen --systemd did not start"; kill "$pid"; return; }
	kill "$pid"
	got=$(cat "$tmp/sd.err")
	[ "$got" = "vsk: listening on unix:$s (systemd fd 3)" ] || { fail "unix: '$got'"; return; }
	python3 -c '
import os, socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
if s.fileno() == 3:
    os.set_inheritable(3, True)
else:
    os.dup2(s.fileno(), 3)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])' "$VSK" listen -v --systemd </dev/null >/dev/null 2>"$tmp/sd2.err" &
	pid=$!
	bgpids+=("$pid")
	wait_file "$tmp/sd2.err" "listening on" || { fail "tcp listen --systemd did not start: $(cat "$tmp/sd2.err")"; kill "$pid"; return; }
	kill "$pid"
	got=$(cat "$tmp/sd2.err")
	grep -qxE "vsk: listening on tcp:127\.0\.0\.1:[0-9]+ \(systemd fd 3\)" <<<"$got" || { fail "tcp: '$got'"; return; }
	pass
}

case_add serve_once_stdin "listen --once -N sends stdin to the client and half-closes at its EOF (nc -l -N); -N without --once is exit 2"
t_serve_once_stdin() {
	local s=$tmp/n.sock got
	printf 'from the server' | "$VSK" listen --once -N unix:"$s" >"$tmp/l.out" 2>"$tmp/l.err" &
	pid=$!
	bgpids+=("$pid")
	wait_sock "$s" || { fail "listen made no socket"; return; }
	# A client that sends, half-closes and reads to EOF: vsk connect.
	got=$(printf 'from the client' | timeout 10 "$VSK" connect unix:"$s" 2>"$tmp/c.err")
	rc=$?
	[ "$rc" = 0 ] || { fail "client exited $rc: $(cat "$tmp/c.err")"; return; }
	wait_pid "$pid" 10
	rc=$?
	[ "$rc" = 0 ] || { fail "listen --once -N exited $rc: $(cat "$tmp/l.err")"; return; }
	[ "$got" = "from the server" ] || { fail "the client read '$got', want listen's stdin"; return; }
	[ "$(cat "$tmp/l.out")" = "from the client" ] || { fail "listen's stdout '$(cat "$tmp/l.out")'"; return; }
	# Without -N, stdin is still not read (the documented default).
	printf 'not sent' | "$VSK" listen --once unix:"$s" >"$tmp/l.out" 2>"$tmp/l.err" &
	pid=$!
	wait_sock "$s" || { fail "listen made no socket"; return; }
	got=$(printf x | timeout 10 "$VSK" connect unix:"$s" 2>"$tmp/c.err")
	wait_pid "$pid" 10
	[ -z "$got" ] || { fail "without -N the client got '$got'"; return; }
	run_vsk listen -N unix:"$s"
	expect_rc 2 "vsk listen -N without --once" || return
	run_vsk listen --once -N --echo unix:"$s"
	expect_rc 2 "vsk listen --once -N --echo" || return
	pass
}

case_add serve_connect_epipe "connect | head -c 10: exit 0 and silent; a full stdout stays exit 1"
t_serve_connect_epipe() {
	local s=$tmp/e.sock n
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --echo unix:"$s"
	wait_sock "$s" || { fail "listen made no socket"; return; }
	head -c 20000000 /dev/zero | timeout 20 "$VSK" connect unix:"$s" 2>"$tmp/c.err" | head -c 10 >"$tmp/h.out"
	rc=${PIPESTATUS[1]}
	n=$(wc -c <"$tmp/h.out")
	[ "$rc" = 0 ] || { kill "$pid"; fail "connect | head: exit $rc: $(cat "$tmp/c.err")"; return; }
	[ -s "$tmp/c.err" ] && { kill "$pid"; fail "connect | head said: $(cat "$tmp/c.err")"; return; }
	[ "$n" = 10 ] || { kill "$pid"; fail "head got $n bytes"; return; }
	printf 'hello' | timeout 10 "$VSK" connect unix:"$s" >/dev/full 2>"$tmp/c.err"
	rc=$?
	kill "$pid"
	[ "$rc" = 1 ] || { fail "connect >/dev/full: exit $rc, want 1"; return; }
	grep -q "stdout: No space left on device" "$tmp/c.err" || { fail "connect >/dev/full: $(cat "$tmp/c.err")"; return; }
	pass
}

case_add serve_output_full "listen --once -o /dev/full: 'vsk listen: write /dev/full: ...', exit 1; a tcp client sees the reset (exit 1)"
t_serve_output_full() {
	local port i
	port=$(free_tcp_port)
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --once -o /dev/full tcp:127.0.0.1:"$port"
	for ((i = 0; i < 50; i++)); do
		grep -q ":$(printf '%04X' "$port") 00000000:0000 0A" /proc/net/tcp && break
		sleep 0.1
	done
	printf 'lost data' | timeout 10 "$VSK" connect tcp:127.0.0.1:"$port" >/dev/null 2>"$tmp/c.err"
	rc=$?
	[ "$rc" = 1 ] || { kill "$pid"; fail "the client exited $rc, want 1 (a reset): $(cat "$tmp/c.err")"; return; }
	wait_pid "$pid" 10
	rc=$?
	[ "$rc" = 1 ] || { fail "listen exited $rc, want 1"; return; }
	[ "$(cat "$tmp/l.err")" = "vsk listen: write /dev/full: No space left on device" ] ||
		{ fail "listen said: $(cat "$tmp/l.err")"; return; }
	# Unix: the same message and status (the client has no reset to see).
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --once -o /dev/full unix:"$tmp/f.sock"
	wait_sock "$tmp/f.sock" || { fail "listen made no socket"; return; }
	printf 'lost data' | timeout 10 "$VSK" connect unix:"$tmp/f.sock" >/dev/null 2>&1
	wait_pid "$pid" 10
	rc=$?
	[ "$rc" = 1 ] || { fail "unix: listen exited $rc, want 1"; return; }
	grep -qx "vsk listen: write /dev/full: No space left on device" "$tmp/l.err" ||
		{ fail "unix: listen said: $(cat "$tmp/l.err")"; return; }
	pass
}

case_add serve_exec_status "--once --exec exits with the command's status (128+N for signal N); without --once a failure is one line without -v"
t_serve_exec_status() {
	local s=$tmp/x.sock cmd want
	while IFS='|' read -r cmd want; do
		bg_vsk "$tmp/l.out" "$tmp/l.err" listen --once --exec "$cmd" unix:"$s"
		wait_sock "$s" || { fail "listen made no socket"; kill "$pid"; return; }
		printf 'data' | timeout 10 "$VSK" connect unix:"$s" >/dev/null 2>&1
		wait_pid "$pid" 10
		rc=$?
		[ "$rc" = "$want" ] || { fail "--once --exec '$cmd': exit $rc, want $want: $(cat "$tmp/l.err")"; return; }
	done <<'LIST'
cat >/dev/null; exit 3|3
cat >/dev/null|0
cat >/dev/null; kill -9 $$|137
LIST
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --exec 'cat >/dev/null; exit 4' unix:"$s"
	wait_sock "$s" || { fail "listen made no socket"; kill "$pid"; return; }
	printf 'data' | timeout 10 "$VSK" connect unix:"$s" >/dev/null 2>&1
	wait_file "$tmp/l.err" "exited 4"
	kill "$pid"
	wait_pid "$pid" 10
	[ "$(grep -c "exited 4" "$tmp/l.err")" = 1 ] || { fail "without --once and -v: stderr '$(cat "$tmp/l.err")', want one 'exited 4' line"; return; }
	pass
}

case_add serve_listen_word "recv and listen name the same failed step 'listen' for the same address"
t_serve_listen_word() {
	local h=$tmp/no/such/dir/h
	run_vsk recv --hybrid "$h"
	expect_rc 1 "vsk recv --hybrid in a missing directory" || return
	[[ $errout == "vsk: listen hybrid:$h:4050"* ]] || { fail "recv: $errout"; return; }
	run_vsk listen hybrid:"$h":4050
	expect_rc 1 "vsk listen hybrid: in a missing directory" || return
	[[ $errout == "vsk: listen hybrid:$h:4050"* ]] || { fail "listen: $errout"; return; }
	pass
}

case_add serve_exec_stop_ends_commands "a stop (SIGTERM) ends the --exec commands still running and what they started: none outlives listen"
t_serve_exec_stop_ends_commands() {
	local s=$tmp/e.sock mark="31.$$" cpid left
	# The command starts a child of its own (sleep), as real commands do.
	bg_vsk "$tmp/l.out" "$tmp/l.err" listen --exec "sleep $mark; :" unix:"$s"
	wait_sock "$s" || { fail "listen made no socket"; kill "$pid"; return; }
	sleep 30 | timeout 20 "$VSK" connect unix:"$s" >/dev/null 2>&1 &
	cpid=$!
	for ((i = 0; i < 50; i++)); do pgrep -f "sleep $mark" >/dev/null && break; sleep 0.1; done
	pgrep -f "sleep $mark" >/dev/null || { fail "the command never started"; kill "$pid" "$cpid"; return; }
	kill -TERM "$pid"
	wait_pid "$pid" 10
	rc=$?
	left=$(pgrep -f "sleep $mark")
	[ -n "$left" ] && kill $left 2>/dev/null
	kill "$cpid" 2>/dev/null
	wait "$cpid" 2>/dev/null
	[ "$rc" = 0 ] || { fail "listen stopped by SIGTERM: exit $rc, want 0: $(cat "$tmp/l.err")"; return; }
	[ -z "$left" ] || { fail "the command's 'sleep $mark' outlived listen (pid $left)"; return; }
	[ -e "$s" ] && { fail "socket file left"; return; }
	pass
}
