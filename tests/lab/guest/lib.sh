# Helpers for lab cases, inside the guest (busybox sh). Sourced by /init and
# by every case's shell. A case is a function t_NAME in /lab/cases.sh, run in
# its own directory ($CASE_DIR, also the cwd) and its own process group, so
# everything it started in the background is killed when it ends.

# The table in cases.sh is for the host runner; here it is a no-op.
lab_case() { :; }

# Stop the case: FAIL or SKIP with a reason (exit status 1 / 77).
fail() { printf '%s\n' "$*" >"$CASE_DIR/.reason"; exit 1; }
skip() { printf '%s\n' "$*" >"$CASE_DIR/.reason"; exit 77; }

# Print the first lines of a file on one line, for a failure reason.
excerpt() { head -n "${2:-4}" "$1" 2>/dev/null | tr '\n' '|' | cut -c1-300; }

# spawn NAME CMD...: run CMD in the background, output to NAME.out, exit
# status to NAME.rc when it ends.
spawn() {
	__n=$1; shift
	echo "+ $* &  [$__n]"
	( "$@" >"$__n.out" 2>&1; echo $? >"$__n.rc" ) &
}

# wait_rc NAME TENTHS: wait for a spawned command to end; sets RC.
wait_rc() {
	__i=0
	while [ ! -s "$1.rc" ] && [ "$__i" -lt "$2" ]; do sleep 0.1; __i=$((__i + 1)); done
	[ -s "$1.rc" ] || return 1
	RC=$(cat "$1.rc")
}

# still_running NAME: the spawned command has not ended yet.
still_running() { [ ! -s "$1.rc" ]; }

# wait_text FILE TEXT TENTHS: wait until FILE contains TEXT.
wait_text() {
	__i=0
	while ! grep -qF -- "$2" "$1" 2>/dev/null && [ "$__i" -lt "$3" ]; do
		sleep 0.1; __i=$((__i + 1))
	done
	grep -qF -- "$2" "$1" 2>/dev/null
}

# wait_listen ADDR [NAME]: until something listens on ADDR, at most 10 s,
# without connecting (vsock: ask vsock_diag by port; unix: the socket file).
# Gives up early when the spawned command NAME has ended.
wait_listen() {
	__i=0
	while [ "$__i" -lt 100 ]; do
		case $1 in
		vsock:*|vsock-seq:*) vsockdiag wait "${1##*:}" 0 2>/dev/null && return 0 ;;
		unix:*) [ -S "${1#unix:}" ] && return 0 ;;
		*) echo "wait_listen: cannot wait for $1" >&2; return 1 ;;
		esac
		[ -n "${2:-}" ] && [ -s "$2.rc" ] && return 1
		sleep 0.1; __i=$((__i + 1))
	done
	return 1
}

# run NAME CMD...: run in the foreground (at most 60 s), output to NAME.out
# (stdout) and NAME.err; sets RC.
run() {
	__n=$1; shift
	echo "+ $*"
	timeout 60 "$@" >"$__n.out" 2>"$__n.err"
	RC=$?
	echo "  exit $RC"
	sed 's/^/  out: /' "$__n.out" | head -n 20
	sed 's/^/  err: /' "$__n.err" | head -n 20
}

# expect_error NAME WORDS CMD...: CMD must exit 1 and its stderr must match
# the extended regexp WORDS (case-insensitive).
expect_error() {
	__n=$1 __w=$2; shift 2
	run "$__n" "$@"
	[ "$RC" = 1 ] || fail "'$*' exited $RC, want 1; stderr: $(excerpt "$__n.err")"
	grep -qiE -- "$__w" "$__n.err" ||
		fail "'$*' stderr does not match /$__w/: $(excerpt "$__n.err")"
}

# lab_run_case NAME SECONDS (called by /init): run t_NAME with a watchdog,
# print its output and exactly one marker.
lab_run_case() {
	_name=$1 _secs=$2
	_dir=/tmp/case/$_name
	mkdir -p "$_dir"
	echo "--- BEGIN $_name"
	_t0=$(cut -d' ' -f1 /proc/uptime)
	# setsid: the case leads its own process group (pgid = its pid), so the
	# watchdog and the clean-up reach everything it started.
	CASE_DIR=$_dir setsid sh -c 'cd "$CASE_DIR" && . /lab/lib.sh && . /lab/cases.sh &&
		t_'"$_name" >"$_dir/.log" 2>&1 &
	_pid=$!
	( sleep "$_secs"; echo x >"$_dir/.timeout"; kill -s TERM -- "-$_pid" 2>/dev/null;
	  sleep 2; kill -s KILL -- "-$_pid" 2>/dev/null ) &
	_wd=$!
	wait "$_pid"
	_rc=$?
	kill "$_wd" 2>/dev/null
	kill -s KILL -- "-$_pid" 2>/dev/null
	sed 's/^/  | /' "$_dir/.log"
	echo "  | (took $(awk -v t0="$_t0" '{ printf "%.1f", $1 - t0 }' /proc/uptime) s)"
	_why=$(cat "$_dir/.reason" 2>/dev/null)
	if [ -e "$_dir/.timeout" ]; then
		echo "FAIL $_name: timed out after $_secs s${_why:+ ($_why)}"
	elif [ "$_rc" = 0 ]; then
		echo "PASS $_name"
	elif [ "$_rc" = 77 ]; then
		echo "SKIP $_name: ${_why:-no reason given}"
	else
		echo "FAIL $_name: ${_why:-exit status $_rc}"
	fi
}
