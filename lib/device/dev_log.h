/* device logging: one line per event through the caller's callback (level
 * 0 = always, 1 = connection events for -v).  The lowest layer of the
 * device: every other device file may log, nothing here calls up. */
#ifndef VSK_DEV_LOG_H
#define VSK_DEV_LOG_H

typedef void (*dev_log_fn)(void *arg, int level, const char *msg);

struct dev_log {
	dev_log_fn fn; /* NULL: silent */
	void *arg;
};

void dev_logf(const struct dev_log *l, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
