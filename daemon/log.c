/*
 * The journal or stderr; see log.h. One line is formatted in full before it
 * is written, so lines from worker threads never interleave.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sdnotify.h"

static enum log_target target = LOG_TARGET_STDERR;
static int log_debug_on;
static const char *journal_socket = SDN_JOURNAL_SOCKET;

/* systemd sets JOURNAL_STREAM=DEV:INODE when stderr is the journal
 * (systemd.exec(5)); a redirected stderr no longer matches and keeps plain lines. */
static int stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (js == NULL || sscanf(js, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void log_init(enum log_target t, int debug)
{
	log_debug_on = debug;
	if (t == LOG_TARGET_AUTO)
		t = stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_STDERR;
	target = t;
}

void log_set_journal_socket(const char *path)
{
	journal_socket = path ? path : SDN_JOURNAL_SOCKET;
}

enum log_target log_target_used(void)
{
	return target;
}

/* Only the fields a line has are sent, so journalctl FIELD=... matches
 * exactly. 0, or -1 when the journal did not take it. */
static int journal_send(int prio, const log_fields *f, const char *msg)
{
	sdn_field fields[7];
	char prio_s[4];
	size_t n = 0;
	smk_err e;

	snprintf(prio_s, sizeof(prio_s), "%d", prio & 7);
	fields[n++] = (sdn_field){"MESSAGE", msg};
	fields[n++] = (sdn_field){"PRIORITY", prio_s};
	fields[n++] = (sdn_field){"SYSLOG_IDENTIFIER", "smkeyd"};
	if (f->request_id)
		fields[n++] = (sdn_field){"REQUEST_ID", f->request_id};
	if (f->policy)
		fields[n++] = (sdn_field){"POLICY", f->policy};
	if (f->device)
		fields[n++] = (sdn_field){"DEVICE", f->device};
	if (f->outcome)
		fields[n++] = (sdn_field){"OUTCOME", f->outcome};
	return sdn_journal_send(journal_socket, fields, n, &e);
}

static const char *prio_name(int prio)
{
	switch (prio) {
	case LOG_EMERG:
	case LOG_ALERT:
	case LOG_CRIT:
	case LOG_ERR:
		return "error";
	case LOG_WARNING:
		return "warning";
	case LOG_NOTICE:
	case LOG_INFO:
		return "info";
	}
	return "debug";
}

void log_msg(int prio, const log_fields *f, const char *fmt, ...)
{
	static const log_fields none;
	char msg[1024], line[1400];
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug_on)
		return;
	if (f == NULL)
		f = &none;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* a journal that does not take the entry (journald restarting) still
	 * gets the line through stderr, its stream */
	if (target == LOG_TARGET_JOURNAL && journal_send(prio, f, msg) == 0)
		return;
	snprintf(line, sizeof(line), "smkeyd: %s: %s%s%s%s%s%s%s%s%s\n", prio_name(prio), msg,
		 f->request_id ? " request_id=" : "", f->request_id ? f->request_id : "",
		 f->policy ? " policy=" : "", f->policy ? f->policy : "",
		 f->device ? " device=" : "", f->device ? f->device : "",
		 f->outcome ? " outcome=" : "", f->outcome ? f->outcome : "");
	fputs(line, stderr);
}
