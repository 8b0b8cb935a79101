/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The journal or stderr; see log.h. One line is formatted in full before it
 * is written, so lines from worker threads never interleave.
 */
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/show.h"
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
	return sdnotify_journal_send(journal_socket, fields, n, &e);
}

/* Append n bytes of s to out (cap bytes, *used so far), cutting at the end. */
static void append(char *out, size_t cap, size_t *used, const char *s, size_t n)
{
	if (*used + 1 >= cap)
		return;
	if (n > cap - 1 - *used)
		n = cap - 1 - *used;
	memcpy(out + *used, s, n);
	*used += n;
	out[*used] = '\0';
}

/*
 * vsnprintf, except that every %s and %c argument goes through smk_show():
 * the format is ours (a literal at every call site) and may hold newlines;
 * the arguments are where names from clients, cards and policy files come
 * in, and none of them may start a line of its own or move a terminal's
 * cursor. A precision (%.64s) cuts the argument before it is escaped, a
 * width pads the escaped text. Each other conversion is printed by
 * snprintf alone, with '*' widths and precisions read first as C says.
 */
static void format_shown(char *out, size_t cap, const char *fmt, va_list ap)
{
	char spec[48], piece[SMK_SHOW_MAX], raw[SMK_SHOW_MAX];
	size_t used = 0, lit, sl;
	int saved_errno;
	va_list args;

	out[0] = '\0';
	saved_errno = errno;
	va_copy(args, ap);
	while (*fmt) {
		const char *p = fmt + 1, *flags, *length;
		size_t nflags, nlength;
		int width = -1, prec = -1, left = 0;
		char conv;

		if (*fmt != '%') {
			lit = strcspn(fmt, "%");
			append(out, cap, &used, fmt, lit);
			fmt += lit;
			continue;
		}
		flags = p;
		nflags = strspn(p, "-+ #0'");
		p += nflags;
		if (*p == '*') {
			width = va_arg(args, int);
			if (width < 0) {
				left = 1; /* C: a negative '*' width is '-' and its value */
				width = width == INT_MIN ? 0 : -width;
			}
			p++;
		} else if (*p >= '0' && *p <= '9') {
			width = atoi(p);
			p += strspn(p, "0123456789");
		}
		if (*p == '.') {
			p++;
			if (*p == '*') {
				prec = va_arg(args, int);
				p++;
			} else {
				prec = atoi(p);
				p += strspn(p, "0123456789");
			}
		}
		length = p;
		nlength = strspn(p, "hljztL");
		if (nlength > 2)
			nlength = 2;
		p += nlength;
		conv = *p;
		if (conv == '\0' || nflags > 8)
			break; /* not a conversion this walker knows: stop here */
		fmt = p + 1;
		left = left || memchr(flags, '-', nflags) != NULL;
		piece[0] = '\0';
		/* the conversion again, with '*' replaced by the numbers read */
		sl = (size_t)snprintf(spec, sizeof(spec), "%%%s%.*s", left ? "-" : "", (int)nflags,
				      flags);
		if (width >= 0)
			sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, "%d", width);
		if (prec >= 0)
			sl += (size_t)snprintf(spec + sl, sizeof(spec) - sl, ".%d", prec);
		snprintf(spec + sl, sizeof(spec) - sl, "%.*s%c", (int)nlength, length, conv);
		switch (conv) {
		case '%':
			snprintf(piece, sizeof(piece), "%%");
			break;
		case 's':
		case 'c':
			if (conv == 'c') {
				raw[0] = (char)va_arg(args, int);
				raw[1] = '\0';
			} else {
				const char *s = va_arg(args, const char *);

				snprintf(raw, sizeof(raw), "%.*s",
					 prec >= 0 && prec < (int)sizeof(raw)
					     ? prec
					     : (int)sizeof(raw) - 1,
					 s ? s : "(null)");
			}
			smk_show_into(raw, piece, sizeof(piece));
			if (width > 0) {
				snprintf(raw, sizeof(raw), left ? "%-*s" : "%*s", width, piece);
				memcpy(piece, raw, sizeof(piece));
			}
			break;
		case 'd':
		case 'i':
			if (nlength == 2 && length[0] == 'l')
				snprintf(piece, sizeof(piece), spec, va_arg(args, long long));
			else if (nlength == 1 && length[0] == 'l')
				snprintf(piece, sizeof(piece), spec, va_arg(args, long));
			else if (nlength == 1 && length[0] == 'j')
				snprintf(piece, sizeof(piece), spec, va_arg(args, intmax_t));
			else if (nlength == 1 && length[0] == 'z')
				snprintf(piece, sizeof(piece), spec, va_arg(args, ssize_t));
			else if (nlength == 1 && length[0] == 't')
				snprintf(piece, sizeof(piece), spec, va_arg(args, ptrdiff_t));
			else
				snprintf(piece, sizeof(piece), spec, va_arg(args, int));
			break;
		case 'u':
		case 'o':
		case 'x':
		case 'X':
			if (nlength == 2 && length[0] == 'l')
				snprintf(piece, sizeof(piece), spec,
					 va_arg(args, unsigned long long));
			else if (nlength == 1 && length[0] == 'l')
				snprintf(piece, sizeof(piece), spec, va_arg(args, unsigned long));
			else if (nlength == 1 && length[0] == 'j')
				snprintf(piece, sizeof(piece), spec, va_arg(args, uintmax_t));
			else if (nlength == 1 && length[0] == 'z')
				snprintf(piece, sizeof(piece), spec, va_arg(args, size_t));
			else if (nlength == 1 && length[0] == 't')
				snprintf(piece, sizeof(piece), spec, va_arg(args, ptrdiff_t));
			else
				snprintf(piece, sizeof(piece), spec, va_arg(args, unsigned));
			break;
		case 'f':
		case 'F':
		case 'e':
		case 'E':
		case 'g':
		case 'G':
		case 'a':
		case 'A':
			if (nlength == 1 && length[0] == 'L')
				snprintf(piece, sizeof(piece), spec, va_arg(args, long double));
			else
				snprintf(piece, sizeof(piece), spec, va_arg(args, double));
			break;
		case 'p':
			snprintf(piece, sizeof(piece), spec, va_arg(args, void *));
			break;
		case 'm': /* glibc: strerror(errno) of the caller, no argument */
			snprintf(piece, sizeof(piece), "%s", strerror(saved_errno));
			break;
		default:
			/* %n and anything else: never in a log line; stop rather than
			 * read arguments of a type not known */
			va_end(args);
			return;
		}
		append(out, cap, &used, piece, strlen(piece));
	}
	va_end(args);
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
	char id[128], pol[256], dev[256], outcome[64];
	log_fields shown;
	va_list ap;

	if (prio == LOG_DEBUG && !log_debug_on)
		return;
	if (f == NULL)
		f = &none;
	va_start(ap, fmt);
	format_shown(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the fields name a request, policy and device as clients, policy
	 * files and cards spelled them: shown escaped, as the arguments are */
	shown.request_id = f->request_id ? smk_show_into(f->request_id, id, sizeof(id)) : NULL;
	shown.policy = f->policy ? smk_show_into(f->policy, pol, sizeof(pol)) : NULL;
	shown.device = f->device ? smk_show_into(f->device, dev, sizeof(dev)) : NULL;
	shown.outcome = f->outcome ? smk_show_into(f->outcome, outcome, sizeof(outcome)) : NULL;
	f = &shown;
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
