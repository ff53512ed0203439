# Helpers of tests/cli/run: the case table, pass/fail/skip, and waiting for
# sockets and processes.  Sourced, not run.
VSK=${VSK:-$top/vsk}
export LC_ALL=C
unset NO_COLOR
CASES=()
declare -A CASE_DOC=()
np=0 nf=0 ns=0
tmp=$(mktemp -d /tmp/vsk-cli.XXXXXX)
bgpids=()
cli_cleanup() {
	local p
	for p in "${bgpids[@]}"; do kill "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cli_cleanup EXIT

# case_add NAME DOC: a case, run by t_NAME.
case_add() {
	CASES+=("$1")
	CASE_DOC[$1]=$2
}
pass() { echo "PASS $cur"; np=$((np + 1)); }
fail() { echo "FAIL $cur: $*"; nf=$((nf + 1)); }
skip() { echo "SKIP $cur: $*"; ns=$((ns + 1)); }

# run_vsk ARGS...: run vsk with stdin from /dev/null unless redirected;
# sets $out (stdout), $errout (stderr) and $rc; killed after 20 s.
run_vsk() {
	timeout -k 2 20 "$VSK" "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	out=$(cat "$tmp/out")
	errout=$(cat "$tmp/err")
}

# expect_rc WANT WHAT: fail unless $rc is WANT; returns 1 when it failed.
expect_rc() {
	[ "$rc" = "$1" ] && return 0
	fail "$2: exit status $rc, want $1 (stderr: $(head -c 300 <<<"$errout"))"
	return 1
}

# wait_sock PATH: up to 5 s for a socket file to appear.
wait_sock() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ -S "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# wait_file PATH PATTERN: up to 5 s for a line matching PATTERN in PATH.
wait_file() {
	local i
	for ((i = 0; i < 50; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# wait_pid PID SECONDS: wait for a background job, killing it when late;
# returns its exit status (124 when it had to be killed).
wait_pid() {
	local pid=$1 i
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# free_tcp_port: a TCP port on 127.0.0.1 that nobody listens on now.
free_tcp_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cli_main() {
	local c want skipset=() sel=() picked
	while [ $# -gt 0 ]; do
		case $1 in
		--list)
			for c in "${CASES[@]}"; do printf '%-28s %s\n' "$c" "${CASE_DOC[$c]}"; done
			exit 0 ;;
		--skip) skipset+=("$2"); shift ;;
		*) sel+=("$1") ;;
		esac
		shift
	done
	if [ ! -x "$VSK" ]; then
		cur=cli fail "no vsk binary at $VSK (run make)"
		echo "cli: $np passed, $nf failed, $ns skipped"
		exit 1
	fi
	for c in "${CASES[@]}"; do
		picked=$(( ${#sel[@]} == 0 ))
		for want in "${sel[@]}"; do [[ $c == "$want"* ]] && picked=1; done
		for want in "${skipset[@]}"; do
			[[ $c == "$want"* ]] && { echo "SKIP $c: --skip $want"; ns=$((ns + 1)); picked=0; }
		done
		[ "$picked" = 1 ] || continue
		cur=$c
		rm -rf "${tmp:?}"/* 2>/dev/null
		"t_$c"
	done
	echo "cli: $np passed, $nf failed, $ns skipped"
	[ "$nf" = 0 ]
}
