# Sourced by the bench scripts (and tests/eco/run): build one bench program
# against libvsk.a, again only when a source, a header or the library is
# newer than the binary.
#
#   bench_build BIN SRC...   returns 0 built or current, 1 build failed,
#                            2 no libvsk.a (run make)
# Uses $bench_top (the project root; set from this file's place) and $CC.
bench_top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bench_build() {
	local bin=$1 lib=$bench_top/libvsk.a stale=0 f libinc pcap
	shift
	[ -f "$lib" ] || return 2
	[ -x "$bin" ] || stale=1
	for f in "$@" "$bench_top"/bench/*.h "$lib"; do [ "$f" -nt "$bin" ] && stale=1; done
	[ "$stale" = 1 ] || return 0
	mkdir -p "$(dirname "$bin")" || return 1
	# libvsk's headers: lib/ and each of its parts (lib/core, lib/vhost, ...)
	libinc=$(for f in "$bench_top"/lib "$bench_top"/lib/*/; do printf -- '-I%s ' "${f%/}"; done)
	pcap=$(pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
	# shellcheck disable=SC2086 # libinc and pcap are lists of flags
	${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wshadow -Werror $libinc -I"$bench_top/bench" \
		-o "$bin" "$@" "$lib" $pcap -lz -lpthread
}
