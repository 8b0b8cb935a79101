/* SPDX-License-Identifier: BSD-3-Clause */
#include "user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <unistd.h>

/* An entry larger than this is not a name service answer we trust. */
#define ENTRY_MAX (1u << 20)

/* One getpwnam_r or getgrnam_r into buf; 1 found, 0 not, else an errno value. */
static int lookup_once(int group, const char *name, char *buf, size_t size, uint32_t *id)
{
	int rc;

	if (group) {
		struct group gr, *res = NULL;

		rc = getgrnam_r(name, &gr, buf, size, &res);
		if (rc == 0 && res)
			*id = (uint32_t)res->gr_gid;
		return rc == 0 ? res != NULL : rc;
	} else {
		struct passwd pw, *res = NULL;

		rc = getpwnam_r(name, &pw, buf, size, &res);
		if (rc == 0 && res)
			*id = (uint32_t)res->pw_uid;
		return rc == 0 ? res != NULL : rc;
	}
}

static int lookup(int group, const char *name, uint32_t *id, int *err)
{
	long hint = sysconf(group ? _SC_GETGR_R_SIZE_MAX : _SC_GETPW_R_SIZE_MAX);
	size_t size = hint > 0 ? (size_t)hint : 4096;
	char *buf = NULL, *grown;
	int rc;

	for (;;) {
		grown = realloc(buf, size);
		if (grown == NULL) {
			free(buf);
			*err = ENOMEM;
			return -1;
		}
		buf = grown;
		rc = lookup_once(group, name, buf, size, id);
		if (rc != ERANGE || size >= ENTRY_MAX)
			break;
		size *= 2;
	}
	free(buf);
	if (rc == 0 || rc == 1)
		return rc;
	/* glibc reports "no such entry" as 0 and NULL; these mean the same elsewhere */
	if (rc == ENOENT || rc == ESRCH)
		return 0;
	*err = rc;
	return -1;
}

int smk_user_uid(const char *name, uint32_t *uid, int *err)
{
	return lookup(0, name, uid, err);
}

int smk_group_gid(const char *name, uint32_t *gid, int *err)
{
	return lookup(1, name, gid, err);
}
