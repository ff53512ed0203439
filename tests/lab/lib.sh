# vsk QEMU lab: host-side helpers, sourced by tests/lab/run and tests/lab/demo
# (bash). Builds an initramfs (cached busybox + kernel modules part, plus the
# project's files appended each run) and boots it under QEMU TCG, with the
# serial console as the only channel back.
#
#   VSK_LAB_CACHE   kernel + base initramfs cache (default ~/.cache/vsk-lab,
#                   filled by scripts/deps)
#   VSK_LAB_KERNEL  the guest kernel series: 6.1 (default, $VSK_LAB_CACHE/kernel)
#                   or 6.12 ($VSK_LAB_CACHE/kernel-6.12)
#   VSK_LAB_VSK     the vsk binary to test (default ./vsk)
#   VSK_LAB_CASES   the case file (default tests/lab/cases.sh)
#   VSK_LAB_KEEP=1  keep the work directory (initrd, console logs)

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP=$(cd "$LAB_DIR/../.." && pwd)
# Another case file (same format) can stand in for tests/lab/cases.sh.
LAB_CASES=${VSK_LAB_CASES:-$LAB_DIR/cases.sh}
LAB_VSK=${VSK_LAB_VSK:-$TOP/vsk}
LAB_CACHE=${VSK_LAB_CACHE:-${HOME:-/root}/.cache/vsk-lab}
LAB_SERIES=${VSK_LAB_KERNEL:-6.1}
# Bump when the layout of the base archive changes, so stale caches are
# not reused.
LAB_BASE_REV=3

# Modules per group, in insmod order (dependencies first; no modprobe and
# no modules.dep in the guest).
LAB_MODS_VIRTIO="drivers/virtio/virtio_ring drivers/virtio/virtio
drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev
drivers/virtio/virtio_pci"
LAB_MODS_VSOCK="net/vmw_vsock/vsock net/vmw_vsock/vmw_vsock_virtio_transport_common
net/vmw_vsock/vsock_loopback net/vmw_vsock/vsock_diag drivers/net/vsockmon"
LAB_MODS_G2H="net/vmw_vsock/vmw_vsock_virtio_transport"
LAB_MODS_VHOST="drivers/vhost/vhost_iotlb drivers/vhost/vhost drivers/vhost/vhost_vsock"
# virtio-net, for a TCP link between two guests (the kernel suites' control
# channel).
LAB_MODS_NET="net/core/failover drivers/net/net_failover drivers/net/virtio_net"

# lab_kernel_dir SERIES: where scripts/deps unpacked that kernel.
lab_kernel_dir() {
	case $1 in
	6.1) echo "$LAB_CACHE/kernel" ;;
	*) echo "$LAB_CACHE/kernel-$1" ;;
	esac
}

# Sets LAB_KERNEL, LAB_KVER, LAB_MODROOT, or LAB_MISSING to why the lab
# cannot run here (then callers report every case SKIP, never PASS).
lab_probe() {
	LAB_MISSING=
	local q
	for q in qemu-system-x86_64 cpio gzip timeout; do
		if ! command -v "$q" >/dev/null 2>&1; then
			LAB_MISSING="$q not installed (run scripts/deps)"
			return 1
		fi
	done
	LAB_BUSYBOX=$(command -v busybox 2>/dev/null || true)
	if [ -z "$LAB_BUSYBOX" ] || ! file_is_static "$LAB_BUSYBOX"; then
		LAB_BUSYBOX=/bin/busybox
		file_is_static "$LAB_BUSYBOX" || {
			LAB_MISSING="static busybox not installed (run scripts/deps)"
			return 1
		}
	fi
	case $LAB_SERIES in
	6.1|6.12) ;;
	*) LAB_MISSING="VSK_LAB_KERNEL=$LAB_SERIES: the lab has kernels 6.1 and 6.12"; return 1 ;;
	esac
	LAB_KDIR=$(lab_kernel_dir "$LAB_SERIES")
	LAB_KERNEL=$(ls "$LAB_KDIR"/boot/vmlinuz-* 2>/dev/null | head -n 1)
	if [ -z "$LAB_KERNEL" ]; then
		LAB_MISSING="no guest kernel in $LAB_KDIR (run scripts/deps)"
		return 1
	fi
	LAB_KVER=${LAB_KERNEL##*/vmlinuz-}
	LAB_MODROOT=$LAB_KDIR/lib/modules/$LAB_KVER/kernel
	if [ ! -d "$LAB_MODROOT" ]; then
		LAB_MISSING="no modules for $LAB_KVER in $LAB_KDIR"
		return 1
	fi
	return 0
}

# A dynamically linked busybox would need its libraries in the guest.
file_is_static() {
	[ -x "$1" ] && ! LC_ALL=C ldd "$1" >/dev/null 2>&1
}

# Base archive: busybox with one symlink per applet, /etc/passwd with an
# unprivileged user, the kernel config, and the modules flat under
# /lib/vsk-modules/ (uncompressed: 6.12 ships .ko.xz and busybox insmod
# reads plain .ko only; the ones this kernel has built in, such as virtio
# on 6.12, are named in /lib/vsk-modules/builtin instead). Cached
# per kernel + busybox build; printed path on stdout.
lab_base_initrd() {
	local bbsum key out stage m a
	bbsum=$(cksum <"$LAB_BUSYBOX" | cut -d' ' -f1)
	key="$LAB_KVER-r$LAB_BASE_REV-$bbsum"
	out="$LAB_CACHE/base-$key.cpio.gz"
	if [ -s "$out" ]; then
		echo "$out"
		return 0
	fi
	stage=$(mktemp -d "$LAB_CACHE/.base.XXXXXX") || return 1
	mkdir -p "$stage"/{bin,sbin,etc,proc,sys,dev,tmp,root,lib/vsk-modules,usr/bin,usr/sbin}
	cp "$LAB_BUSYBOX" "$stage/bin/busybox"
	for a in $("$LAB_BUSYBOX" --list); do
		[ "$a" = busybox ] || ln -s busybox "$stage/bin/$a"
	done
	: >"$stage/lib/vsk-modules/builtin"
	for m in $LAB_MODS_VIRTIO $LAB_MODS_VSOCK $LAB_MODS_G2H $LAB_MODS_VHOST $LAB_MODS_NET; do
		if [ -f "$LAB_MODROOT/$m.ko" ]; then
			cp "$LAB_MODROOT/$m.ko" "$stage/lib/vsk-modules/"
		elif [ -f "$LAB_MODROOT/$m.ko.xz" ] && command -v xz >/dev/null 2>&1; then
			xz -dc "$LAB_MODROOT/$m.ko.xz" >"$stage/lib/vsk-modules/${m##*/}.ko" || {
				rm -rf "$stage"
				return 1
			}
		elif grep -qx "kernel/$m.ko" "$LAB_MODROOT/../modules.builtin" 2>/dev/null; then
			echo "${m##*/}" >>"$stage/lib/vsk-modules/builtin"
		else
			echo "lab: module $m.ko missing in $LAB_MODROOT (for .ko.xz: xz, from scripts/deps)" >&2
			rm -rf "$stage"
			return 1
		fi
	done
	# vsk check reads the kernel config from /boot like on a real system.
	mkdir -p "$stage/boot"
	cp "$LAB_KDIR/boot/config-$LAB_KVER" "$stage/boot/" 2>/dev/null || true
	printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n' \
		>"$stage/etc/passwd"
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$stage/etc/group"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp" &&
		mv "$out.tmp" "$out"
	rm -rf "$stage"
	[ -s "$out" ] && echo "$out"
}

# Copy a dynamically linked program and every library ldd names (plus the
# loader) into the stage directory, at the same paths.
lab_add_program() {
	local stage=$1 prog=$2 dest=$3 line lib
	install -D -m 755 "$prog" "$stage$dest" || return 1
	while read -r line; do
		case $line in
		*"not found"*)
			echo "lab: $prog: ${line%% *} not found by ldd" >&2
			return 1 ;;
		*"=> /"*) lib=${line#*=> }; lib=${lib%% (*} ;;
		/*) lib=${line%% (*} ;;
		*) continue ;;
		esac
		[ -e "$stage$lib" ] || install -D -m 755 "$(readlink -f "$lib")" "$stage$lib" || return 1
	done < <(LC_ALL=C ldd "$prog" 2>/dev/null)
}

# Static helpers under tests/lab/*.c, built into build/lab/ when stale; a
# directory tests/lab/NAME/ of .c files is one program, build/lab/NAME.
lab_build_helpers() {
	local c d f bin stale
	mkdir -p "$TOP/build/lab"
	for c in "$LAB_DIR"/*.c; do
		[ -e "$c" ] || continue
		bin="$TOP/build/lab/$(basename "$c" .c)"
		if [ ! -x "$bin" ] || [ "$c" -nt "$bin" ]; then
			${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Werror \
				-static -o "$bin" "$c" || return 1
		fi
	done
	for d in "$LAB_DIR"/*/; do
		ls "$d"*.c >/dev/null 2>&1 || continue
		bin="$TOP/build/lab/$(basename "$d")"
		stale=0
		[ -x "$bin" ] || stale=1
		for f in "$d"*; do [ "$f" -nt "$bin" ] && stale=1; done
		if [ "$stale" = 1 ]; then
			${CC:-cc} -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Wshadow -Werror \
				-static -o "$bin" "$d"*.c -lpthread || return 1
		fi
	done
}

# Project archive: ./vsk with its libraries, the static helpers, the guest
# scripts. Written to $1. (The plan goes in a separate archive per boot.)
lab_project_cpio() {
	local out=$1 stage h
	stage=$(mktemp -d "$LAB_WORK/stage.XXXXXX") || return 1
	lab_add_program "$stage" "$LAB_VSK" /usr/bin/vsk || return 1
	for h in "$TOP"/build/lab/*; do
		[ -x "$h" ] && install -D -m 755 "$h" "$stage/usr/bin/${h##*/}"
	done
	install -D -m 755 "$LAB_DIR/guest/init" "$stage/init"
	install -D -m 644 "$LAB_DIR/guest/lib.sh" "$stage/lab/lib.sh"
	install -D -m 644 "$LAB_CASES" "$stage/lab/cases.sh"
	(cd "$stage" && find . | cpio -o -H newc --quiet | gzip -1) >"$out" || return 1
	rm -rf "$stage"
}

# lab_boot INITRD LOG SECONDS: boot, console to LOG, hard time limit.
# Returns QEMU's status (124 on timeout).
lab_boot() {
	local initrd=$1 log=$2 secs=$3
	timeout -k 5 "$secs" qemu-system-x86_64 -m 512 -smp 2 -nographic -no-reboot \
		-nodefaults -serial stdio -monitor none \
		-kernel "$LAB_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 quiet panic=-1" \
		</dev/null >"$log" 2>&1
}

lab_workdir() {
	LAB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/vsk-lab.XXXXXX") || return 1
	if [ "${VSK_LAB_KEEP:-0}" = 1 ]; then
		echo "lab: work directory $LAB_WORK kept" >&2
	else
		trap 'rm -rf "$LAB_WORK"' EXIT
	fi
}
