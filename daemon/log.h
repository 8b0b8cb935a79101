/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd's log. Under systemd (stderr connected to the journal, see
 * $JOURNAL_STREAM) every line goes to the journal socket with structured
 * fields (sdnotify.h), so `journalctl -u smkeyd REQUEST_ID=...` finds one request:
 *
 *   REQUEST_ID  the archive request id (32 hex digits)
 *   POLICY      the policy name
 *   DEVICE      the device serial
 *   OUTCOME     accepted, committed, failed, denied, recovered, ...
 *
 * Otherwise one line on stderr: "smkeyd: LEVEL: message [k=v ...]".
 * Callable from any thread. Never pass a PIN or key material.
 *
 * Hostile text is escaped here, not at the call sites: every %s and %c
 * argument and every field goes through smk_show() (common/show.h), so a
 * name from a client, card or policy file never starts a line of its own or
 * reaches a terminal as a control sequence. The format string is ours and
 * may hold newlines (a multi-line message). Pass names raw: an argument
 * escaped beforehand would show its backslashes doubled.
 */
#ifndef SMK_DAEMON_LOG_H
#define SMK_DAEMON_LOG_H

#include <syslog.h>

enum log_target { LOG_TARGET_AUTO, LOG_TARGET_STDERR, LOG_TARGET_JOURNAL };

/* Choose the target; AUTO picks the journal when stderr is the journal stream. */
void log_init(enum log_target target, int debug);
/* Where journal entries go: SDN_JOURNAL_SOCKET, or (tests) another
 * datagram socket; NULL restores the default. Call before log_init. */
void log_set_journal_socket(const char *path);
/* Which target is in use (after log_init). */
enum log_target log_target_used(void);

/* The request fields of one line; any may be NULL. */
typedef struct log_fields {
	const char *request_id;
	const char *policy;
	const char *device;
	const char *outcome;
} log_fields;

void log_msg(int prio, const log_fields *f, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_err(...) log_msg(LOG_ERR, NULL, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARNING, NULL, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, NULL, __VA_ARGS__)

#endif
