/* device iovec helper shared by the tx and rx paths. */
#ifndef VSK_DEV_IOV_H
#define VSK_DEV_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Sub-range [off, off+len) of IOV[N] into OUT (at most MAX entries);
 * returns the entries used. */
static inline unsigned dev_iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
				     struct iovec *out, unsigned max)
{
	unsigned k = 0;

	for (unsigned i = 0; i < n && len > 0 && k < max; i++) {
		size_t l = iov[i].iov_len;

		if (off >= l) {
			off -= l;
			continue;
		}
		out[k].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[k].iov_len = l - off < len ? l - off : len;
		len -= out[k].iov_len;
		off = 0;
		k++;
	}
	return k;
}

#endif
