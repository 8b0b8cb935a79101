/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The three small protocols smkeyd speaks with systemd, written from their
 * documentation so the key daemon does not link libsystemd (and, through it,
 * liblzma, libzstd, liblz4, libgcrypt and libcap):
 *
 *   - readiness and watchdog: one datagram "KEY=value\n..." to the Unix
 *     socket in $NOTIFY_SOCKET (sd_notify(3)); $WATCHDOG_USEC and
 *     $WATCHDOG_PID say whether and how often to ping (sd_watchdog_enabled(3));
 *   - socket activation: $LISTEN_PID and $LISTEN_FDS name the descriptors
 *     passed from fd 3 on (sd_listen_fds(3));
 *   - the journal's native protocol: one datagram of fields to
 *     /run/systemd/journal/socket (systemd.io JOURNAL_NATIVE_PROTOCOL).
 *
 * Nothing here allocates; every call is safe from any thread.
 */
#ifndef SMK_DAEMON_SDNOTIFY_H
#define SMK_DAEMON_SDNOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

/* sd_listen_fds(3): the first passed descriptor */
#define SDN_LISTEN_FDS_START 3
/* where journald reads native-protocol datagrams */
#define SDN_JOURNAL_SOCKET "/run/systemd/journal/socket"
/* fields of one journal entry that sdnotify_journal_send takes */
#define SDN_JOURNAL_MAX_FIELDS 16

/* Send state ("READY=1", "WATCHDOG=1", lines joined by '\n') to the
 * service manager. 1 when sent, 0 when $NOTIFY_SOCKET is not set (not run
 * by systemd: nothing to tell), -1 when the address is unusable or the send
 * failed. */
int sdnotify_notify(const char *state, smk_err *e);

/* The watchdog interval the service manager expects pings within: 1 and
 * *usec set when $WATCHDOG_USEC is set for this process, 0 when not (unset,
 * or $WATCHDOG_PID names another process), -1 when a value is malformed. */
int sdnotify_watchdog_usec(uint64_t *usec, smk_err *e);

/* How many descriptors the service manager passed, from
 * SDN_LISTEN_FDS_START on (0 when $LISTEN_PID is unset or another
 * process's); each is made close-on-exec. unset_env removes $LISTEN_PID,
 * $LISTEN_FDS and $LISTEN_FDNAMES so a child does not take them for its
 * own. -1 when a value is malformed or a descriptor is not open. */
int sdnotify_listen_fds(int unset_env, smk_err *e);

/* One journal field: name is upper-case letters, digits and '_', not
 * starting with a digit or '_' (those are journald's own), at most 64
 * bytes; value is any bytes up to its NUL, newlines included. */
typedef struct sdn_field {
	const char *name;
	const char *value;
} sdn_field;

/* Send one entry of n fields (at most SDN_JOURNAL_MAX_FIELDS) to the
 * journal socket at path (SDN_JOURNAL_SOCKET; tests name their own). 0, or
 * -1 when a name is invalid or the send failed. */
int sdnotify_journal_send(const char *path, const sdn_field *f, size_t n, smk_err *e);

#endif
