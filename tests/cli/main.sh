# tests/cli: the top level (help, version, dispatch), usage mistakes of
# every command, and stdout errors at exit.

case_add usage_one_line "a usage mistake is one 'vsk CMD: ...' line and a hint, exit 2"
t_usage_one_line() {
	local args why
	while IFS='|' read -r args why; do
		# shellcheck disable=SC2086
		run_vsk $args
		expect_rc 2 "vsk $args" || return
		if [ "$(wc -l <<<"$errout")" != 2 ]; then
			fail "vsk $args: want 2 lines on stderr, got: $errout"
			return
		fi
		cmd=${args%% *}
		if [[ $(head -1 <<<"$errout") != "vsk $cmd: "*"$why"* ]] ||
		   [[ $(tail -1 <<<"$errout") != "see 'vsk $cmd --help'" ]]; then
			fail "vsk $args: want 'vsk $cmd: ...$why...' and the hint, got: $errout"
			return
		fi
	done <<'LIST'
listen|missing ADDR
connect|missing ADDR
proxy unix:/a|missing TO
proxy|missing FROM and TO
listen unix:a unix:b|'unix:b' is extra
connect unix:a unix:b|'unix:b' is extra
proxy unix:a unix:b unix:c|'unix:c' is extra
bench|missing ADDR
device|no VM given
listen --echo --exec cat unix:/a|--echo and --exec
listen --once -k unix:/a|--keep-open and --once
bench --rr --crr unix:/a|choose one of
bench -s --rr unix:/a|-s takes no test options
connect --bind 5 unix:/a|--bind is for vsock
recv unix:/a unix:/b|'unix:/b' is extra
send unix:/a m extra|'extra' is extra
cid extra|'extra' is extra
check extra|'extra' is extra
LIST
	pass
}

case_add getopt_names_vsk "getopt's own messages start with 'vsk CMD:'"
t_getopt_names_vsk() {
	local c
	for c in $("$VSK" --list-commands); do
		run_vsk "$c" --bogus-option
		expect_rc 2 "vsk $c --bogus-option" || return
		if [[ $errout != vsk* ]] || ! grep -q -- "bogus-option" <<<"$errout"; then
			fail "vsk $c --bogus-option: message does not start with vsk or name the option: $errout"
			return
		fi
	done
	pass
}

case_add help_command "'vsk help CMD' is CMD's --help; an unknown CMD is exit 2"
t_help_command() {
	local c want
	for c in $("$VSK" --list-commands); do
		want=$("$VSK" "$c" --help)
		run_vsk help "$c"
		expect_rc 0 "vsk help $c" || return
		if [ "$out" != "$want" ]; then
			fail "vsk help $c differs from vsk $c --help"
			return
		fi
	done
	run_vsk help bogus
	expect_rc 2 "vsk help bogus" || return
	[[ $errout == "vsk: "*bogus* ]] || { fail "vsk help bogus: $errout"; return; }
	run_vsk help
	expect_rc 0 "vsk help" || return
	[[ $out == *"commands:"* ]] || { fail "vsk help: no command list"; return; }
	pass
}

case_add top_help_lists_all "vsk --help names every command, help, version and --list-commands"
t_top_help_lists_all() {
	local c
	run_vsk --help
	expect_rc 0 "vsk --help" || return
	for c in $("$VSK" --list-commands) help version --list-commands -V; do
		grep -qE "(^| )$c( |,|$)" <<<"$out" || { fail "vsk --help does not mention $c"; return; }
	done
	pass
}

case_add version_forms "-V, --version, version agree; --json is JSON with the libraries"
t_version_forms() {
	local v a
	v=$("$VSK" --version | head -1)
	[[ $v == "vsk "[0-9]* ]] || { fail "vsk --version: '$v'"; return; }
	for a in -V version; do
		run_vsk $a
		expect_rc 0 "vsk $a" || return
		[ "$(head -1 <<<"$out")" = "$v" ] || { fail "vsk $a says '$(head -1 <<<"$out")', --version '$v'"; return; }
	done
	grep -q '^libpcap version' <<<"$out" || { fail "vsk version does not name libpcap: $out"; return; }
	run_vsk version --json
	expect_rc 0 "vsk version --json" || return
	if ! python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["version"] and "libpcap" in d["libpcap"] and d["zlib"]' "$out"; then
		fail "vsk version --json: not the JSON object wanted: $out"
		return
	fi
	run_vsk version --bogus
	expect_rc 2 "vsk version --bogus" || return
	[ "$errout" = "vsk version: '--bogus': the only option is --json"$'\n'"see 'vsk version --help'" ] ||
		{ fail "vsk version --bogus: $errout"; return; }
	# --help lists help and version as commands: 'vsk help' knows them.
	run_vsk help version
	expect_rc 0 "vsk help version" || return
	[[ $out == "usage: vsk version [--json]"* ]] || { fail "vsk help version: $out"; return; }
	run_vsk help help
	expect_rc 0 "vsk help help" || return
	[[ $out == *"commands:"* ]] || { fail "vsk help help: $out"; return; }
	pass
}

case_add stdout_full "output to /dev/full or a closed stdout is an error, exit 1"
t_stdout_full() {
	local args
	for args in "cid" "check --json" "--help" "version" "listen --help"; do
		# shellcheck disable=SC2086
		timeout 20 "$VSK" $args >/dev/full 2>"$tmp/err"
		rc=$?
		errout=$(cat "$tmp/err")
		expect_rc 1 "vsk $args >/dev/full" || return
		[[ $errout == *"vsk: write stdout: No space left on device"* ]] ||
			{ fail "vsk $args >/dev/full: $errout"; return; }
		# shellcheck disable=SC2086
		timeout 20 "$VSK" $args >&- 2>"$tmp/err"
		rc=$?
		errout=$(cat "$tmp/err")
		expect_rc 1 "vsk $args >&-" || return
	done
	pass
}

case_add stdout_pipe_closed "a reader that goes away early is not an error (exit 0)"
t_stdout_pipe_closed() {
	local st
	# help text is small: the reader is gone before vsk writes.
	(sleep 0.3; exec "$VSK" --help) | true
	st=${PIPESTATUS[0]}
	# Killed by SIGPIPE (141) is what coreutils do too; an error message is not.
	if [ "$st" != 0 ] && [ "$st" != 141 ]; then
		fail "vsk --help into a closed pipe: exit status $st"
		return
	fi
	pass
}

case_add readme_error_example "README's and vsk(1)'s 'Errors that teach' line is what vsk prints"
t_readme_error_example() {
	local want man_want
	# Only a bind of CID 4 (never a connect): refused unless CID 4 is ours.
	run_vsk listen vsock:4:4050
	if [ "$rc" = 0 ] || [[ $errout != *"CID 4 is not local"* ]]; then
		skip "CID 4 is not refused here as the example shows (exit $rc: $(head -c 120 <<<"$errout"))"
		return
	fi
	want=$(sed -n '/^    \$ vsk listen vsock:4:4050$/{n;s/^    //;p;q}' README.md)
	man_want=$(grep -m1 '^vsk: .*vsock:4:4050' man/vsk.1)
	[ -n "$want" ] || { fail "README has no '\$ vsk listen vsock:4:4050' example"; return; }
	# The example is cut to the page's width: compare up to the CID list.
	if [[ $errout != "${want%% (local CIDs*}"* ]] || [[ $errout != "${man_want%% (local CIDs*}"* ]]; then
		fail "README/man say '${want%% (local*}', vsk says '${errout%% (local*}'"
		return
	fi
	pass
}

case_add man_command_tags "vsk(1) COMMANDS: each command's synopsis is whole on its tag line"
t_man_command_tags() {
	local page line c open close n=0
	command -v man >/dev/null || { skip "man is not installed"; return; }
	page=$(MANWIDTH=200 man -l man/vsk.1 2>/dev/null | sed -n '/^COMMANDS/,/^ADDRESSES/p')
	for c in $("$VSK" --list-commands); do
		line=$(grep -E "^       $c( |$)" <<<"$page" | head -1)
		[ -n "$line" ] || { fail "vsk(1) COMMANDS has no entry for $c"; return; }
		open=$(tr -cd '[' <<<"$line" | wc -c)
		close=$(tr -cd ']' <<<"$line" | wc -c)
		[ "$open" = "$close" ] || { fail "vsk(1) $c's synopsis is cut: '$line'"; return; }
		n=$((n + 1))
	done
	# Every page under one header.
	if grep -L '^\.TH .*"User Commands"$' man/*.1 | grep -q .; then
		fail "man pages not under \"User Commands\": $(grep -L '"User Commands"$' man/*.1 | tr '\n' ' ')"
		return
	fi
	pass
}
