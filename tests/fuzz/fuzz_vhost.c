/* libFuzzer harness: vhost-user message sequences against vu_dispatch().
 *
 * Bounded run: tests/fuzz/run [SECONDS] vhost virtq.
 * Build and run by hand (from the repository root):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Ilib -D_GNU_SOURCE \
 *       tests/fuzz/fuzz_vhost.c lib/vhost*.c lib/vhost/virtq.c lib/vhost/guestmem.c \
 *       -o build/fuzz_vhost
 *   mkdir -p build/corpus_vhost
 *   build/fuzz_vhost -max_total_time=60 build/corpus_vhost tests/fuzz/corpus/vhost
 *
 * Input: records  [kind u8][len u16 le][len bytes], applied in order.
 *   kind bit 7 set, bit 6 clear: guest memory write -- the bytes go into
 *                   the 64 KiB guest memfd at offset (first 2 bytes, le)
 *                   (rings, descriptors), below its current size.
 *   kind bits 7 and 6: the front end resizes the guest memfd to (first 2
 *                   bytes, le) * 16 bytes rounded down to a page, or back
 *                   to 64 KiB if that is more (a shrink under live rings:
 *                   the SIGBUS the guard must turn into a broken queue).
 *   otherwise:      the bytes are sent on the front-end socket, with
 *                   (kind & 3) fds attached: kind bit 2 picks the guest
 *                   memfd, bit 3 a 4 KiB memfd, bit 4 a second 64 KiB
 *                   memfd that allows sealing (table replacement), bit 5 a
 *                   2 MiB MFD_HUGETLB memfd (refused without free huge
 *                   pages), bit 6 a file on the build directory's file
 *                   system (refused unless tmpfs); else eventfds.
 * After each sent record the back end dispatches until it has nothing
 * more (a message may span records), every ready queue is drained with
 * vq_pop/vq_push/vq_notify, replies are read.  At the end the front end
 * half-closes (a short message ends in EOF) and the back end dispatches
 * until it fails.  The harness aborts if the back end leaks an fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vhost.h"

#define GUEST_SIZE 0x10000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int guest_fd = -1, small_fd = -1, guest2_fd = -1, huge_fd = -1, disk_fd = -1, efd[3] = { -1, -1, -1 };
static size_t guest_len; /* current size of the guest memfd */

static int count_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!dir)
		abort();
	while ((de = readdir(dir)))
		n++;
	closedir(dir);
	return n;
}

static void init_once(void)
{
	if (guest_fd >= 0)
		return;
	char path[] = "build/fuzz/vhost-disk-XXXXXX";

	guest_fd = memfd_create("guest", MFD_CLOEXEC);
	small_fd = memfd_create("small", MFD_CLOEXEC);
	guest2_fd = memfd_create("guest2", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (guest_fd < 0 || small_fd < 0 || guest2_fd < 0 || ftruncate(guest_fd, GUEST_SIZE) < 0 ||
	    ftruncate(small_fd, 4096) < 0 || ftruncate(guest2_fd, GUEST_SIZE) < 0)
		abort();
	/* Optional kinds of memory: absent where the system has none. */
	huge_fd = memfd_create("huge", MFD_CLOEXEC | MFD_HUGETLB);
	if (huge_fd >= 0 && ftruncate(huge_fd, 2 << 20) < 0) {
		close(huge_fd);
		huge_fd = -1;
	}
	disk_fd = mkstemp(path);
	if (disk_fd >= 0) {
		unlink(path);
		if (ftruncate(disk_fd, GUEST_SIZE) < 0) {
			close(disk_fd);
			disk_fd = -1;
		}
	}
	for (int i = 0; i < 3; i++)
		efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static void send_record(int sock, const uint8_t *b, size_t len, unsigned kind)
{
	union {
		char buf[CMSG_SPACE(3 * sizeof(int))];
		struct cmsghdr align;
	} cb;
	int fds[3];
	unsigned n = kind & 3;
	struct iovec iov = { (void *)b, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (len == 0)
		return;
	for (unsigned i = 0; i < n; i++) {
		int alt = (kind & 64) ? disk_fd : (kind & 32) ? huge_fd : (kind & 16) ? guest2_fd : -1;

		fds[i] = (kind & 8) ? small_fd : (kind & 4) ? guest_fd : efd[i];
		if (alt >= 0 && !(kind & 12))
			fds[i] = alt;
	}
	if (n) {
		struct cmsghdr *c;

		mh.msg_control = cb.buf;
		mh.msg_controllen = CMSG_SPACE(n * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, n * sizeof(int));
	}
	(void)sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

static void drain_queues(struct vu_dev *d)
{
	static struct vq_elem e;

	for (unsigned i = 0; i < d->nqueues; i++) {
		struct vq *q = &d->vq[i];

		if (!q->ready)
			continue;
		for (int k = 0; k < 8 && vq_pop(q, &e) == 1; k++) {
			uint8_t tmp[64];

			vq_iov_to_buf(e.out, e.out_num, 0, tmp, sizeof(tmp));
			vq_buf_to_iov(e.in, e.in_num, 0, tmp, sizeof(tmp));
			vq_push(q, &e, e.in_len);
		}
		vq_notify(q);
	}
}

static void drain_replies(int sock)
{
	uint8_t buf[4096];

	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* Serve what has arrived: dispatch until the back end waits for more. */
static bool serve(struct vu_dev *d, int sock)
{
	for (int i = 0; i < 64; i++) {
		int rc = vu_dispatch(d);

		if (rc == -EAGAIN)
			break;
		if (rc < 0)
			return false;
		drain_queues(d);
		drain_replies(sock);
	}
	drain_queues(d);
	drain_replies(sock);
	return true;
}

/* The front end resizes its memory file (pages beyond it then fault). */
static void resize_guest(const uint8_t *b, size_t len)
{
	size_t want = len >= 2 ? (size_t)(b[0] | b[1] << 8) * 16 : 0;

	want &= ~(size_t)4095;
	if (want > GUEST_SIZE)
		want = GUEST_SIZE;
	if (ftruncate(guest_fd, (off_t)want) == 0)
		guest_len = want;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vu_dev d;
	uint8_t *guest;
	int sv[2], before;
	bool alive = true;

	init_once();
	before = count_fds();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		abort();
	if (vu_init(&d, sv[1], 2, NULL, NULL) < 0)
		abort();
	d.config[0] = 4;
	d.config_len = 8;
	if (ftruncate(guest_fd, GUEST_SIZE) < 0)
		abort();
	guest_len = GUEST_SIZE;
	guest = mmap(NULL, GUEST_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, guest_fd, 0);
	if (guest == MAP_FAILED)
		abort();
	memset(guest, 0, GUEST_SIZE);
	while (size >= 3) {
		unsigned kind = data[0];
		size_t len = data[1] | (size_t)data[2] << 8;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if ((kind & 0xc0) == 0xc0) {
			resize_guest(data, len);
		} else if ((kind & 0x80) && len >= 2) {
			size_t off = (data[0] | (size_t)data[1] << 8) % GUEST_SIZE;
			size_t n = len - 2 < GUEST_SIZE - off ? len - 2 : GUEST_SIZE - off;

			/* Our own view faults past the file's end too. */
			if (off < guest_len)
				memcpy(guest + off, data + 2, n < guest_len - off ? n : guest_len - off);
		} else if (!(kind & 0x80)) {
			send_record(sv[0], data, len, kind);
			if (alive)
				alive = serve(&d, sv[0]);
		}
		data += len;
		size -= len;
	}
	shutdown(sv[0], SHUT_WR);
	for (int i = 0; alive && i < 256; i++) {
		if (vu_dispatch(&d) < 0)
			break;
		drain_queues(&d);
		drain_replies(sv[0]);
	}
	vu_close(&d);
	close(sv[0]);
	munmap(guest, GUEST_SIZE);
	if (count_fds() != before)
		abort(); /* the back end leaked an fd */
	return 0;
}
