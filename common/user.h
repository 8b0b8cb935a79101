/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * User and group names to ids, as policies (allow: users, groups) and the
 * daemon's configuration (admin-groups, witness-user) name them. Thread-safe:
 * getpwnam_r and getgrnam_r with a buffer that grows as the entry needs.
 */
#ifndef SMK_USER_H
#define SMK_USER_H

#include <stdint.h>

/* 1 found (*uid set), 0 no such user, -1 the lookup itself failed (errno
 * value in *err). */
int smk_user_uid(const char *name, uint32_t *uid, int *err);
/* 1 found (*gid set), 0 no such group, -1 the lookup itself failed (errno
 * value in *err). */
int smk_group_gid(const char *name, uint32_t *gid, int *err);

#endif
