/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * systemd's notify, socket-activation and journal protocols; see sdnotify.h
 * for where each is documented. Every value comes from the environment,
 * which the daemon does not control: numbers are parsed strictly and a
 * malformed one is an error, never a guess.
 */
#include "sdnotify.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

/* A decimal number with nothing around it: no sign, no space, no overflow. */
static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* 1 when the variable holds our pid, 0 when another's, -1 when malformed. */
static int env_is_our_pid(const char *name, const char *val, smk_err *e)
{
	uint64_t pid;

	if (parse_u64(val, &pid) < 0 || pid == 0 || pid > INT_MAX)
		return smk_fail(e, SMK_E_FORMAT, "$%s=\"%.32s\": not a process id", name, val);
	return pid == (uint64_t)getpid();
}

/* sd_notify(3): "/path" is a socket in the file system, "@name" one in the
 * abstract namespace (the '@' stands for the leading NUL byte). */
static int notify_address(const char *addr, struct sockaddr_un *sa, socklen_t *len, smk_err *e)
{
	size_t n = strlen(addr);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (addr[0] != '/' && addr[0] != '@')
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"$NOTIFY_SOCKET=\"%.64s\": neither a path nor an abstract socket",
				addr);
	if (n < 2 || n >= sizeof(sa->sun_path))
		return smk_fail(e, SMK_E_ARG,
				"$NOTIFY_SOCKET: %zu bytes, a socket address holds 2 to %zu", n,
				sizeof(sa->sun_path) - 1);
	memcpy(sa->sun_path, addr, n);
	if (addr[0] == '@') {
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else {
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	}
	return 0;
}

/* One datagram to sa; the socket lives for this call only, so nothing is
 * shared between threads and nothing leaks into a child. */
static int send_datagram(const struct sockaddr_un *sa, socklen_t salen, struct iovec *iov,
			 size_t niov, const char *what, smk_err *e)
{
	struct msghdr mh;
	int fd, err;
	ssize_t r;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return smk_fail(e, SMK_E_IO, "%s: socket: %s", what, strerror(errno));
	memset(&mh, 0, sizeof(mh));
	mh.msg_name = (void *)sa;
	mh.msg_namelen = salen;
	mh.msg_iov = iov;
	mh.msg_iovlen = niov;
	r = sendmsg(fd, &mh, MSG_NOSIGNAL);
	err = errno;
	close(fd);
	if (r < 0)
		return smk_fail(e, SMK_E_IO, "%s: %s", what, strerror(err));
	return 0;
}

int sdnotify_notify(const char *state, smk_err *e)
{
	const char *addr = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa;
	struct iovec iov;
	socklen_t salen = 0;

	if (state == NULL || *state == '\0')
		return smk_fail(e, SMK_E_ARG, "sd_notify: empty state");
	if (addr == NULL)
		return 0;
	if (notify_address(addr, &sa, &salen, e) < 0)
		return -1;
	iov.iov_base = (void *)state;
	iov.iov_len = strlen(state);
	if (send_datagram(&sa, salen, &iov, 1, "sd_notify", e) < 0)
		return -1;
	return 1;
}

int sdnotify_watchdog_usec(uint64_t *usec, smk_err *e)
{
	const char *s = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	uint64_t v;
	int ours;

	if (s == NULL)
		return 0;
	/* sd_watchdog_enabled(3): 0 and "infinity" are no interval */
	if (parse_u64(s, &v) < 0 || v == 0 || v == UINT64_MAX)
		return smk_fail(e, SMK_E_FORMAT, "$WATCHDOG_USEC=\"%.32s\": not an interval", s);
	if (pid != NULL) {
		ours = env_is_our_pid("WATCHDOG_PID", pid, e);
		if (ours <= 0)
			return ours;
	}
	*usec = v;
	return 1;
}

int sdnotify_listen_fds(int unset_env, smk_err *e)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	uint64_t n = 0;
	int rc = 0, fd, flags;

	if (pid == NULL)
		goto out;
	rc = env_is_our_pid("LISTEN_PID", pid, e);
	if (rc <= 0)
		goto out;
	rc = 0;
	if (fds == NULL)
		goto out;
	if (parse_u64(fds, &n) < 0 || n > (uint64_t)(INT_MAX - SDN_LISTEN_FDS_START)) {
		rc =
		    smk_fail(e, SMK_E_FORMAT, "$LISTEN_FDS=\"%.32s\": not a descriptor count", fds);
		goto out;
	}
	for (fd = SDN_LISTEN_FDS_START; fd < SDN_LISTEN_FDS_START + (int)n; fd++) {
		flags = fcntl(fd, F_GETFD);
		if (flags < 0 ||
		    (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)) {
			rc = smk_fail(e, SMK_E_IO, "$LISTEN_FDS=%d: descriptor %d: %s", (int)n, fd,
				      strerror(errno));
			goto out;
		}
	}
	rc = (int)n;
out:
	/* also after an error: a child must not take the variables for its own */
	if (unset_env) {
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_FDNAMES");
	}
	return rc;
}

/* JOURNAL_NATIVE_PROTOCOL: what journald accepts from a client. */
static int field_name_ok(const char *name)
{
	size_t i;

	if (name == NULL || name[0] == '\0' || name[0] == '_' || (name[0] >= '0' && name[0] <= '9'))
		return 0;
	for (i = 0; name[i]; i++) {
		if (i == 64)
			return 0;
		if (!((name[i] >= 'A' && name[i] <= 'Z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '_'))
			return 0;
	}
	return 1;
}

int sdnotify_journal_send(const char *path, const sdn_field *f, size_t n, smk_err *e)
{
	static char eq[] = "=", nl[] = "\n";
	struct iovec iov[SDN_JOURNAL_MAX_FIELDS * 5];
	uint8_t lens[SDN_JOURNAL_MAX_FIELDS][8];
	struct sockaddr_un sa;
	size_t i, k = 0, vlen;
	int b;

	if (n == 0 || n > SDN_JOURNAL_MAX_FIELDS)
		return smk_fail(e, SMK_E_ARG, "journal: %zu fields, an entry has 1 to %d", n,
				SDN_JOURNAL_MAX_FIELDS);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return smk_fail(e, SMK_E_ARG, "journal: socket path longer than %zu bytes",
				sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	for (i = 0; i < n; i++) {
		if (!field_name_ok(f[i].name))
			return smk_fail(e, SMK_E_ARG,
					"journal: field name \"%.70s\" is not A-Z, 0-9 and _",
					f[i].name ? f[i].name : "");
		if (f[i].value == NULL)
			return smk_fail(e, SMK_E_ARG, "journal: field %s has no value", f[i].name);
		vlen = strlen(f[i].value);
		iov[k].iov_base = (void *)f[i].name;
		iov[k++].iov_len = strlen(f[i].name);
		if (memchr(f[i].value, '\n', vlen) == NULL) {
			/* "NAME=value\n" */
			iov[k].iov_base = eq;
			iov[k++].iov_len = 1;
		} else {
			/* a value with a newline: "NAME\n", its length as 64-bit
			 * little-endian, the value, "\n" */
			for (b = 0; b < 8; b++)
				lens[i][b] = (uint8_t)((uint64_t)vlen >> (8 * b));
			iov[k].iov_base = nl;
			iov[k++].iov_len = 1;
			iov[k].iov_base = lens[i];
			iov[k++].iov_len = 8;
		}
		iov[k].iov_base = (void *)f[i].value;
		iov[k++].iov_len = vlen;
		iov[k].iov_base = nl;
		iov[k++].iov_len = 1;
	}
	return send_datagram(&sa, (socklen_t)sizeof(sa), iov, k, "journal", e);
}
