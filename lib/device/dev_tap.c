/* device pcap tap (see dev_tap.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "dev_log.h"
#include "dev_tap.h"
#include "virtq.h"

void dev_tap_init(struct dev_tap *t, const struct dev_log *log)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	t->log = log;
}

/* Stop after an error; the lock is held. */
static void stop(struct dev_tap *t)
{
	dev_logf(t->log, 0, "pcap: write failed, capture stopped");
	capture_writer_close(t->w);
	t->w = NULL;
	t->dirty = false;
}

int dev_tap_open(struct dev_tap *t, const char *path, char *err, size_t errlen)
{
	char ebuf[CAPTURE_ERRBUF_SIZE] = "";
	int rc;

	dev_tap_close(t);
	rc = capture_writer_open(path, 0, &t->w, ebuf);
	if (rc < 0) {
		t->w = NULL;
		snprintf(err, errlen, "%s: %s", path, ebuf[0] ? ebuf : strerror(-rc));
		return rc;
	}
	t->on = true;
	return 0;
}

void dev_tap_packet(struct dev_tap *t, const uint8_t *hdr, const struct iovec *iov, int n)
{
	struct iovec one;
	size_t len = 0;

	if (!t->on)
		return;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	pthread_mutex_lock(&t->lock);
	if (t->w == NULL)
		goto out;
	if (len > t->cap) {
		uint8_t *b = realloc(t->bounce, len);

		if (b == NULL)
			goto out; /* this record is lost, the capture goes on */
		t->bounce = b;
		t->cap = len;
	}
	/* The payload is guest memory: copied under the fault guard, so a
	 * front end that truncates it costs this record, never the process. */
	if (vq_iov_to_buf(iov, (unsigned)n, 0, t->bounce, len) != len)
		goto out;
	one = (struct iovec){ t->bounce, len };
	if (capture_write_virtio(t->w, NULL, hdr, &one, 1) < 0)
		stop(t);
	else
		t->dirty = true;
out:
	pthread_mutex_unlock(&t->lock);
}

void dev_tap_flush(struct dev_tap *t)
{
	if (!t->on)
		return;
	pthread_mutex_lock(&t->lock);
	if (t->dirty && t->w != NULL && capture_writer_flush(t->w) < 0)
		stop(t);
	t->dirty = false;
	pthread_mutex_unlock(&t->lock);
}

void dev_tap_close(struct dev_tap *t)
{
	if (t->w != NULL)
		capture_writer_close(t->w);
	t->w = NULL;
	t->dirty = false;
	t->on = false;
	free(t->bounce);
	t->bounce = NULL;
	t->cap = 0;
}
