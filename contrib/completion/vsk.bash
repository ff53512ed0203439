# bash completion for vsk(1).
#
# The command list and each command's long options are checked against
# `vsk --list-commands` and `vsk CMD --help` by tests/eco/run (completion
# test), so this file cannot drift from the binary without a failing test.
# contrib/completion/update rewrites the lists from the binary.

_vsk_commands="bench check cid connect device dump listen proxy recv send"

# Long options per command (--help is offered everywhere).
_vsk_opts_bench="--bidir --bytes --count --crr --json --length --no-check --parallel --quiet --reverse --rr --server --time --timeout --verbose"
_vsk_opts_check="--json"
_vsk_opts_cid="--json"
_vsk_opts_connect="--bind --retry --timeout --verbose"
_vsk_opts_device="--config --connect-timeout --forward-cid --forward-listen --groups --guest-cid --json --map --map-only --max-conns --pcap --queue-size --socket --socket-mode --threads --tx-buffer-size --uds-path --verbose --vm"
_vsk_opts_dump="--cid --conns --count --hex --hex-ascii --interface --json --keep --op --plot --plot-conn --port --read --snaplen --type --utc --verbose --write"
_vsk_opts_listen="--echo --exec --keep-open --once --output --stdin --systemd --verbose"
_vsk_opts_proxy="--systemd --timeout --verbose"
_vsk_opts_recv="--hybrid --keep-open"
_vsk_opts_send="--timeout"

# Address kinds, completed as prefixes (no space after them).
_vsk_addrs="vsock: vsock-seq: hybrid: hybrid-seq: unix: tcp: vsock:host: vsock:local: vsock:any:"

_vsk()
{
	local cur prev cmd i opts
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD - 1]}

	# The subcommand is the first word that is not an option.
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$_vsk_commands help version -h --help -V --version --list-commands" -- "$cur"))
		return
	fi
	case $cmd in
	help)
		[[ $COMP_CWORD == $((i + 1)) ]] && COMPREPLY=($(compgen -W "$_vsk_commands" -- "$cur"))
		return ;;
	version)
		COMPREPLY=($(compgen -W "--json" -- "$cur"))
		return ;;
	esac

	# Short options whose meaning depends on the command: -s is dump's
	# snaplen but bench's --server; -w dump's output file but the timeout
	# (seconds) of connect, proxy and send.
	case $cmd:$prev in
	dump:-s)
		return ;;
	dump:-w)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	esac

	# Options that take a file or a value.
	case $prev in
	-o|--output|-r|--read|--write|--plot|--pcap|--config|--hybrid|--socket|--uds-path)
		COMPREPLY=($(compgen -f -- "$cur"))
		return ;;
	--op)
		# vsk takes op and type names in any case: so does the completion.
		COMPREPLY=($(compgen -W "CONNECT DISCONNECT CONTROL PAYLOAD REQUEST RESPONSE RST SHUTDOWN RW CREDIT_UPDATE CREDIT_REQUEST" -- "${cur^^}"))
		return ;;
	--type)
		COMPREPLY=($(compgen -W "STREAM SEQPACKET DGRAM" -- "${cur^^}"))
		return ;;
	--cid)
		[[ $cmd == dump ]] && COMPREPLY=($(compgen -W "host local hypervisor any" -- "$cur"))
		return ;;
	--port)
		[[ $cmd == dump ]] && COMPREPLY=($(compgen -W "any" -- "$cur"))
		return ;;
	-i|--interface)
		COMPREPLY=($(compgen -W "$(ls /sys/class/net 2>/dev/null)" -- "$cur"))
		return ;;
	-t|-tt|-ttt|-tttt|-ttttt|-n|-nn)
		# vsk dump's -t and -n take no value (bench's -t and -n do).
		[[ $cmd == dump ]] || return ;;
	-e|--exec|--timeout|-w|--retry|--bind|--guest-cid|--socket-mode|--groups|--tx-buffer-size|--threads|--vm|\
	--forward-cid|--forward-listen|--queue-size|--connect-timeout|--map|--max-conns|\
	-c|--count|--plot-conn|--snaplen|-l|--length|-P|--parallel|--time|--bytes)
		return ;;
	esac

	if [[ $cur == -* ]]; then
		opts=_vsk_opts_${cmd//-/_}
		COMPREPLY=($(compgen -W "${!opts} --help" -- "$cur"))
		return
	fi
	case $cmd in
	connect|listen|proxy|recv|send|bench)
		# bash splits words at ':' (COMP_WORDBREAKS): take the whole
		# address from the line, then drop what precedes the last ':'
		# from the replies, as bash will only replace the part after it.
		local line=${COMP_LINE:0:COMP_POINT} word f
		word=${line##*[[:space:]]}
		case $word in
		unix:*|hybrid:*|hybrid-seq:*)
			while IFS= read -r f; do
				COMPREPLY+=("${word%%:*}:$f")
			done < <(compgen -f -- "${word#*:}") ;;
		vsock:*:*|vsock-seq:*:*)
			# A CID is given: the port is a number or any.
			COMPREPLY=($(compgen -W "${word%:*}:any" -- "$word")) ;;
		*)
			# '-' (stdin/stdout) only where the command takes it.
			# Not both sides of proxy: once one is '-', the other is not.
			local dash= w
			[[ $cmd == proxy ]] && dash=-
			for w in "${COMP_WORDS[@]:i+1:COMP_CWORD-i-1}"; do
				[[ $w == - ]] && dash=
			done
			COMPREPLY=($(compgen -W "$_vsk_addrs $dash" -- "$word")) ;;
		esac
		if [[ $word == *:* && $COMP_WORDBREAKS == *:* ]]; then
			local colon=${word%"${word##*:}"}
			COMPREPLY=("${COMPREPLY[@]#"$colon"}")
		fi
		compopt -o nospace 2>/dev/null ;;
	esac
}
complete -F _vsk vsk
