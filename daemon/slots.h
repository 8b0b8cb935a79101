/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sharing the client slots (server.h "Sharing the slots"): which connection
 * gives its slot to a newcomer when every slot is taken. Pure functions
 * over a snapshot of the connections, so the rule is tested on its own
 * (test_slots.c) and the socket layer only gathers the snapshot.
 */
#ifndef SMK_DAEMON_SLOTS_H
#define SMK_DAEMON_SLOTS_H

#include <stddef.h>
#include <sys/types.h>

typedef struct slot_info {
	uid_t uid;
	int named;     /* a policy or admin-groups names the peer */
	int evictable; /* no call in flight, nothing owed to it: may lose its slot */
	int pending;   /* holds part of an unfinished request */
} slot_info;

/* The index in s[0..n) (oldest first) of the connection whose slot a
 * newcomer of uid (named or not) takes, or -1 when none may be taken:
 *  - only an evictable connection of another uid;
 *  - first choice, when the newcomer is named: one of a peer nothing names;
 *  - else one of the uid with the most connections, and only if that uid
 *    holds at least two more than the newcomer's (so two uids never take
 *    slots from each other in turn);
 *  - within the choice, an unfinished request before an idle connection,
 *    an older one before a newer.
 * Costs n log n (one sort of the uids); -1 also when out of memory. */
long slots_pick(const slot_info *s, size_t n, uid_t uid, int named);

#endif
