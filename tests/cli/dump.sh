# tests/cli: vsk dump's command line (tcpdump's habits, conflicting
# options, a reader that goes away, the words of --cid/--port, messages),
# vsk device's --pcap/--json, and dump's help, completion and man page.
# Output line by line is tests/dump's (goldens, and tcpdump itself).

# The crafted captures of tests/dump/gen.c, built once into $dump_gen;
# big.pcap has enough records that a pipe closes long before the end.
dump_gen=$top/build/tests/cli/dump-gen
dump_caps() {
	local inc
	if [ -f "$dump_gen/big.pcap" ] && [ "$dump_gen/big.pcap" -nt "$top/tests/dump/gen.c" ]; then
		return 0
	fi
	mkdir -p "$dump_gen" || return 1
	inc=$(for d in "$top"/lib "$top"/lib/*/; do printf -- '-I%s ' "${d%/}"; done)
	# shellcheck disable=SC2086
	${CC:-cc} -std=c11 -D_GNU_SOURCE $inc -O1 -o "$dump_gen/gen" "$top/tests/dump/gen.c" \
		"$top/lib/dump/wire.c" 2>"$dump_gen/gen.err" &&
		"$dump_gen/gen" "$dump_gen" 2>>"$dump_gen/gen.err" &&
		"$dump_gen/gen" bench 20000 "$dump_gen/big.pcap" 2>>"$dump_gen/gen.err"
}
lab_pcap=$top/tests/dump/pcap/lab-loopback.pcap

# usage_err ARGS... -- WANT: vsk ARGS is exit 2, one 'vsk CMD: ...WANT...'
# line and the hint; returns 1 (after fail) when not.
usage_err() {
	local args=() want cmd
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	want=$2
	cmd=${args[0]}
	run_vsk "${args[@]}"
	expect_rc 2 "vsk ${args[*]}" || return 1
	if [ "$(wc -l <<<"$errout")" != 2 ] || [[ $(head -1 <<<"$errout") != "vsk $cmd: "*"$want"* ]] ||
	   [[ $(tail -1 <<<"$errout") != "see 'vsk $cmd --help'" ]]; then
		fail "vsk ${args[*]}: want 'vsk $cmd: ...$want...' and the hint, got: $errout"
		return 1
	fi
}

case_add dump_opts_after_filter "options may follow the filter words, as tcpdump's do; -- ends them"
t_dump_opts_after_filter() {
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	run_vsk dump -r "$dump_gen/basic.pcap" len '>' 100 -c 1
	expect_rc 0 "vsk dump -r basic.pcap len > 100 -c 1" || return
	if [ "$(wc -l <<<"$out")" != 1 ] || [[ $out != *"length 120" ]]; then
		fail "len > 100 -c 1: want one record of length 120, got: $out"
		return
	fi
	run_vsk dump -c 2 -r "$dump_gen/basic.pcap" len -v '>' 100
	expect_rc 0 "vsk dump -c 2 -r basic.pcap len -v > 100" || return
	[ "$(grep -c '^	type STREAM' <<<"$out")" = 2 ] || { fail "-v among the filter words: $out"; return; }
	# After --, "-c" is a filter word, and libpcap refuses it.
	run_vsk dump -r "$dump_gen/basic.pcap" -- len '>' 100 -c 1
	expect_rc 2 "vsk dump -r basic.pcap -- len > 100 -c 1" || return
	[[ $errout == *"filter 'len > 100 -c 1'"* ]] || { fail "-- did not end the options: $errout"; return; }
	pass
}

case_add dump_n_noop "-n and -nn are accepted and change nothing (vsk never resolves names)"
t_dump_n_noop() {
	local plain a
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	plain=$("$VSK" dump -r "$dump_gen/basic.pcap")
	for a in -n -nn "-n -n"; do
		# shellcheck disable=SC2086
		run_vsk dump $a -r "$dump_gen/basic.pcap"
		expect_rc 0 "vsk dump $a" || return
		[ "$out" = "$plain" ] || { fail "vsk dump $a changed the output"; return; }
	done
	grep -qE '^  -n  ' <<<"$("$VSK" dump --help)" || { fail "--help does not document -n"; return; }
	pass
}

case_add dump_t_forms "-t .. -ttttt are tcpdump's to the byte, also in a zone with a half-hour offset"
t_dump_t_forms() {
	local tz f p
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	command -v tcpdump >/dev/null || { skip "tcpdump not installed (apt-get install tcpdump)"; return; }
	[ -e /usr/share/zoneinfo/Asia/Kolkata ] || { skip "no tzdata (Asia/Kolkata)"; return; }
	for tz in Asia/Kolkata America/New_York; do
		for f in "" -t -tt -ttt -tttt -ttttt; do
			for p in "$dump_gen/times.pcap" "$dump_gen/basic.pcap" "$lab_pcap"; do
				# shellcheck disable=SC2086
				if ! cmp -s <(TZ=$tz "$VSK" dump $f -r "$p" 2>&1) \
				            <(TZ=$tz tcpdump -n $f -r "$p" 2>/dev/null); then
					fail "TZ=$tz vsk dump $f -r $(basename "$p") differs from tcpdump -n $f"
					return
				fi
			done
		done
	done
	# --utc is UTC whatever TZ says, for the date too.
	[ "$(TZ=Asia/Kolkata "$VSK" dump -tttt --utc -r "$dump_gen/times.pcap" | head -1)" = \
	  "$(TZ=UTC tcpdump -n -tttt -r "$dump_gen/times.pcap" 2>/dev/null | head -1)" ] ||
		{ fail "-tttt --utc is not the UTC date and time"; return; }
	usage_err dump -tttttt -r "$dump_gen/basic.pcap" -- "-t given 6 times" || return
	usage_err dump -tt --json -r "$dump_gen/basic.pcap" -- "--json's ts is always seconds" || return
	pass
}

case_add dump_pipe_closed "vsk dump into a reader that leaves early (| head): exit 0, nothing said"
t_dump_pipe_closed() {
	local a st
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	for a in "" "-v -X" "--json" "-w -" "--plot -"; do
		# shellcheck disable=SC2086
		timeout -k 2 20 "$VSK" dump -r "$dump_gen/big.pcap" $a 2>"$tmp/err" | head -c 200 >"$tmp/head"
		st=${PIPESTATUS[0]}
		# The reader really left early: far more than 200 bytes were due.
		[ "$(wc -c <"$tmp/head")" = 200 ] || { fail "vsk dump $a | head: got $(wc -c <"$tmp/head") bytes"; return; }
		if [ "$st" != 0 ] || [ -s "$tmp/err" ]; then
			fail "vsk dump -r big.pcap $a | head -c 200: exit $st (141 = SIGPIPE), stderr: $(head -c 200 "$tmp/err")"
			return
		fi
	done
	# head -2 as the report has it.
	timeout -k 2 20 "$VSK" dump -r "$dump_gen/big.pcap" 2>"$tmp/err" | head -2 >/dev/null
	st=${PIPESTATUS[0]}
	[ "$st" = 0 ] && [ ! -s "$tmp/err" ] || { fail "vsk dump | head -2: exit $st: $(cat "$tmp/err")"; return; }
	pass
}

case_add dump_lines_without_lines "-v, -x, -X, -t, --json with -w or --plot (no record lines) are refused"
t_dump_lines_without_lines() {
	local in a
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	in=$dump_gen/basic.pcap
	for a in -v -x -X --hex --hex-ascii -t -tt -tttt --json; do
		usage_err dump -r "$in" -w "$tmp/o.pcap" "$a" -- "but -w writes the records as pcap instead" || return
		[ -e "$tmp/o.pcap" ] && { fail "vsk dump -w o.pcap $a refused but wrote the file"; return; }
		usage_err dump -r "$in" --plot "$tmp/o.svg" "$a" -- "but --plot draws the records instead" || return
		[ -e "$tmp/o.svg" ] && { fail "vsk dump --plot o.svg $a refused but wrote the file"; return; }
		usage_err dump -r "$in" -w - "$a" -- "-w - writes pcap to stdout" || return
	done
	usage_err dump -r "$in" -w - --conns -- "-w - writes pcap to stdout" || return
	# What is not dropped stays allowed: the --conns table (also as JSON).
	run_vsk dump -r "$in" -w "$tmp/o.pcap" --conns --json
	expect_rc 0 "vsk dump -w o.pcap --conns --json" || return
	[ "$(grep -c '"record":"conn"' <<<"$out")" = 2 ] && [ -s "$tmp/o.pcap" ] ||
		{ fail "-w o.pcap --conns --json: $out"; return; }
	run_vsk dump -r "$in" --plot "$tmp/o.svg" --conns
	expect_rc 0 "vsk dump --plot o.svg --conns" || return
	[[ $out == "2 connections"* ]] || { fail "--plot o.svg --conns: $out"; return; }
	pass
}

case_add device_pcap_stdout_json "vsk device --pcap - --json (both on stdout) is a usage error"
t_device_pcap_stdout_json() {
	usage_err device --pcap - --json -- "--pcap - writes pcap to stdout" || return
	usage_err device --guest-cid 4 --socket "$tmp/v.sock" --uds-path "$tmp/vm4" --pcap - --json \
		-- "cannot also carry --json" || return
	[ -e "$tmp/v.sock" ] && { fail "refused, but the socket was created"; return; }
	pass
}

case_add dump_count_range "-c 0 is refused with the real range (1..4294967295); -c 1 is one record"
t_dump_count_range() {
	local c
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	for c in 0 -1 x 4294967296 ""; do
		usage_err dump -r "$dump_gen/basic.pcap" -c "$c" -- "-c '$c': " || return
		grep -q "1\.\.4294967295" <<<"$errout" || { fail "-c '$c': the range 1..4294967295 is not stated: $errout"; return; }
	done
	run_vsk dump -r "$dump_gen/basic.pcap" -c 1
	expect_rc 0 "vsk dump -c 1" || return
	[ "$(wc -l <<<"$out")" = 1 ] || { fail "-c 1 printed $(wc -l <<<"$out") lines"; return; }
	run_vsk dump -r "$dump_gen/basic.pcap" --count 4294967295
	expect_rc 0 "vsk dump --count 4294967295" || return
	pass
}

case_add dump_cid_port_words "--cid/--port take the address words: host 2, local 1, hypervisor 0, any = no filter"
t_dump_cid_port_words() {
	local all
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	all=$("$VSK" dump -r "$dump_gen/basic.pcap")
	[ "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid host)" = "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid 2)" ] ||
		{ fail "--cid host is not --cid 2"; return; }
	[ "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid any)" = "$all" ] || { fail "--cid any filters"; return; }
	[ "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid -1)" = "$all" ] || { fail "--cid -1 filters"; return; }
	[ "$("$VSK" dump -r "$dump_gen/basic.pcap" --port any)" = "$all" ] || { fail "--port any filters"; return; }
	# The number 4294967295 is a CID to match, not "any".
	[ -z "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid 4294967295)" ] || { fail "--cid 4294967295 is no filter"; return; }
	[ -z "$("$VSK" dump -r "$dump_gen/basic.pcap" --cid hypervisor)" ] || { fail "--cid hypervisor matched CID 2..4"; return; }
	# The lab's loopback capture is CID 1 to CID 1.
	[ "$("$VSK" dump -r "$lab_pcap" --cid local)" = "$("$VSK" dump -r "$lab_pcap")" ] &&
		[ -n "$("$VSK" dump -r "$lab_pcap")" ] || { fail "--cid local is not CID 1"; return; }
	[ -z "$("$VSK" dump -r "$lab_pcap" --cid host)" ] || { fail "--cid host matched a CID 1 capture"; return; }
	usage_err dump -r "$lab_pcap" --cid guest -- "--cid 'guest': not a CID: expected 0..4294967295, any (4294967295), host (2), local (1), hypervisor (0)" || return
	usage_err dump -r "$lab_pcap" --port host -- "--port 'host': not a port: expected 0..4294967294 or any" || return
	usage_err dump -r "$lab_pcap" --cid 1:2 -- "--cid '1:2': not a CID" || return
	pass
}

case_add dump_path_once "a file that cannot be opened is named once: -w DIR, -r, device --pcap"
t_dump_path_once() {
	local n
	dump_caps || { fail "building tests/dump/gen.c: $(head -3 "$dump_gen/gen.err")"; return; }
	mkdir "$tmp/d"
	run_vsk dump -r "$dump_gen/basic.pcap" -w "$tmp/d"
	expect_rc 1 "vsk dump -w DIR" || return
	[ "$errout" = "vsk: write $tmp/d: Is a directory" ] || { fail "vsk dump -w DIR: $errout"; return; }
	run_vsk dump -r "$tmp/nonexistent/x.pcap"
	expect_rc 1 "vsk dump -r missing" || return
	[ "$errout" = "vsk: read $tmp/nonexistent/x.pcap: No such file or directory" ] || { fail "vsk dump -r missing: $errout"; return; }
	run_vsk device --guest-cid 4 --socket "$tmp/v.sock" --uds-path "$tmp/vm4" --pcap "$tmp/nonexistent/x.pcap"
	expect_rc 1 "vsk device --pcap missing-dir/x.pcap" || return
	n=$(grep -o "$tmp/nonexistent/x.pcap" <<<"$errout" | wc -l)
	if [ "$n" != 1 ] || [[ $errout != *"No such file or directory" ]]; then
		fail "vsk device --pcap missing-dir/x.pcap: want the path once: $errout"
		return
	fi
	pass
}

case_add dump_help "--help names -h, -n, -t, --hex, --hex-ascii; so do the completion and the man page"
t_dump_help() {
	local o
	run_vsk dump --help
	expect_rc 0 "vsk dump --help" || return
	for o in "-h, --help" "-x, --hex" "-X, --hex-ascii" "-n " "-t "; do
		grep -qF -- "  $o" <<<"$out" || { fail "vsk dump --help does not list '$o'"; return; }
	done
	o=$(VSK=$VSK contrib/completion/update --opts dump)
	grep -qx -- --hex <<<"$o" && grep -qx -- --hex-ascii <<<"$o" ||
		{ fail "contrib/completion/update --opts dump misses --hex/--hex-ascii: $o"; return; }
	grep -q -- '--hex-ascii' contrib/completion/vsk.bash && grep -q -- '--hex-ascii' contrib/completion/_vsk ||
		{ fail "the completions do not offer --hex-ascii"; return; }
	for o in '.BR \-x ", " \-\-hex' '.BR \-X ", " \-\-hex\-ascii' '.BR \-h ", " \-\-help' \
		 '.B \-n' '.B \-t'; do
		grep -qxF -- "$o" man/vsk-dump.1 || { fail "man/vsk-dump.1 has no line '$o'"; return; }
	done
	pass
}

case_add dump_complete_op_case "bash completion of --op/--type values ignores case (vsk does); --cid/--port words"
t_dump_complete_op_case() {
	local got want
	got=$(bash -c '
		source contrib/completion/vsk.bash || exit 1
		t() {
			COMP_LINE=$1 COMP_POINT=${#1}
			read -ra COMP_WORDS <<<"$1"
			[[ $1 == *" " ]] && COMP_WORDS+=("")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
			COMPREPLY=()
			_vsk
			echo "${COMPREPLY[*]}"
		}
		t "vsk dump --op cr"; t "vsk dump --op CR"; t "vsk dump --op Shut"; t "vsk dump --type seq"
		t "vsk dump --cid h"; t "vsk dump --port a"; t "vsk dump -t --hex-"; t "vsk dump -nn --js"
	' 2>&1)
	want=$'CREDIT_UPDATE CREDIT_REQUEST\nCREDIT_UPDATE CREDIT_REQUEST\nSHUTDOWN\nSEQPACKET\nhost hypervisor\nany\n--hex-ascii\n--json'
	[ "$got" = "$want" ] || { fail "got '$(tr '\n' '|' <<<"$got")', want '$(tr '\n' '|' <<<"$want")'"; return; }
	pass
}

case_add dump_man_indent "man vsk-dump: the text after the -v example keeps the option's indentation"
t_dump_man_indent() {
	local page body after
	command -v man >/dev/null || { skip "man (man-db) not installed"; return; }
	page=$(MANWIDTH=80 man -l man/vsk-dump.1 2>/dev/null)
	# The -v body ("After each line, ...") and the paragraph after its example.
	body=$(grep -m1 'After  *each line, a tab' <<<"$page" | sed -E 's/[^ ].*//' | wc -c)
	after=$(grep -m1 -E 'type +is +STREAM' <<<"$page" | sed -E 's/[^ ].*//' | wc -c)
	if [ "$body" -lt 8 ] || [ "$after" != "$body" ]; then
		fail "-v body indented $((body - 1)), the text after its example $((after - 1))"
		return
	fi
	pass
}
