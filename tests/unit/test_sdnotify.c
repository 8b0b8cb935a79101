/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daemon/sdnotify.c against real sockets: what systemd and journald would
 * receive, byte for byte (sd_notify(3), systemd.io JOURNAL_NATIVE_PROTOCOL),
 * and how a malformed environment is refused (sd_listen_fds(3),
 * sd_watchdog_enabled(3)). Check runs each test in its own process, so the
 * environment a test sets does not reach the next one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/sdnotify.h"
#include "tests/lib/testutil.h"

/* a datagram socket bound to path (or, with a leading '@', to that name in
 * the abstract namespace), as systemd's notify socket or journald's */
static int bind_dgram(const char *name)
{
	struct sockaddr_un sa;
	socklen_t len;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	ck_assert_uint_lt(strlen(name), sizeof(sa.sun_path));
	memcpy(sa.sun_path, name, strlen(name));
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if (name[0] == '@')
		sa.sun_path[0] = '\0';
	else
		len++;
	ck_assert_msg(bind(fd, (struct sockaddr *)&sa, len) == 0, "bind %s: %s", name,
		      strerror(errno));
	return fd;
}

/* the next datagram, or -1 when none is waiting */
static ssize_t recv_now(int fd, char *buf, size_t cap)
{
	return recv(fd, buf, cap, MSG_DONTWAIT);
}

static void assert_datagram(int fd, const void *want, size_t n)
{
	char buf[8192];
	ssize_t r = recv_now(fd, buf, sizeof(buf));

	ck_assert_msg(r >= 0, "no datagram: %s", strerror(errno));
	ck_assert_uint_eq((size_t)r, n);
	ck_assert_msg(memcmp(buf, want, n) == 0, "datagram differs from what was expected");
}

static void assert_nothing(int fd)
{
	char buf[64];

	ck_assert_int_eq(recv_now(fd, buf, sizeof(buf)), -1);
	ck_assert_int_eq(errno, EAGAIN);
}

START_TEST(notify_path_socket)
{
	char dir[64], path[128];
	smk_err e;
	int fd;

	tu_temp_dir(dir, sizeof(dir), "sdnotify");
	snprintf(path, sizeof(path), "%s/notify", dir);
	fd = bind_dgram(path);
	setenv("NOTIFY_SOCKET", path, 1);

	ck_assert_msg(sdnotify_notify("READY=1\nSTATUS=serving", &e) == 1, "%s", e.msg);
	assert_datagram(fd, "READY=1\nSTATUS=serving", 22);
	ck_assert_int_eq(sdnotify_notify("WATCHDOG=1", &e), 1);
	assert_datagram(fd, "WATCHDOG=1", 10);
	assert_nothing(fd);
	/* the variable stays for the next ping */
	ck_assert_str_eq(getenv("NOTIFY_SOCKET"), path);

	close(fd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(notify_abstract_socket)
{
	char name[64];
	smk_err e;
	int fd;

	snprintf(name, sizeof(name), "@smk-test-notify-%ld", (long)getpid());
	fd = bind_dgram(name);
	setenv("NOTIFY_SOCKET", name, 1);
	ck_assert_msg(sdnotify_notify("STOPPING=1", &e) == 1, "%s", e.msg);
	assert_datagram(fd, "STOPPING=1", 10);
	close(fd);
}
END_TEST

START_TEST(notify_unset_sends_nothing)
{
	smk_err e;

	unsetenv("NOTIFY_SOCKET");
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), 0);
	ck_assert_int_eq(sdnotify_notify("", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
}
END_TEST

START_TEST(notify_bad_addresses)
{
	char dir[64], path[128], longp[200];
	smk_err e;

	setenv("NOTIFY_SOCKET", "run/notify", 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "$NOTIFY_SOCKET=\"run/notify\""));
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_UNSUPPORTED);
	setenv("NOTIFY_SOCKET", "@", 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_ARG);
	setenv("NOTIFY_SOCKET", "", 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	/* longer than sun_path holds */
	memset(longp, 'a', sizeof(longp) - 1);
	longp[0] = '/';
	longp[sizeof(longp) - 1] = '\0';
	setenv("NOTIFY_SOCKET", longp, 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "$NOTIFY_SOCKET: 199 bytes"));
	/* nobody listening: the failure is reported, not swallowed */
	tu_temp_dir(dir, sizeof(dir), "sdnotify");
	snprintf(path, sizeof(path), "%s/gone", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	ck_assert_int_eq(sdnotify_notify("READY=1", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	ck_assert_ptr_nonnull(strstr(e.msg, "sd_notify: "));
	rmdir(dir);
}
END_TEST

START_TEST(watchdog_values)
{
	static const char *bad[] = {"",
				    "12ab",
				    "-5",
				    "+5",
				    " 5",
				    "5 ",
				    "0",
				    "18446744073709551615",
				    "18446744073709551616",
				    "99999999999999999999999"};
	char pid[32];
	uint64_t usec = 7;
	smk_err e;
	size_t i;

	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), 0);
	ck_assert_uint_eq(usec, 7);

	setenv("WATCHDOG_USEC", "400000", 1);
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), 1);
	ck_assert_uint_eq(usec, 400000);
	setenv("WATCHDOG_USEC", "18446744073709551614", 1);
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), 1);
	ck_assert_uint_eq(usec, 18446744073709551614ULL);

	/* WATCHDOG_PID names who must ping: us, or someone else */
	setenv("WATCHDOG_USEC", "60000000", 1);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	usec = 0;
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), 1);
	ck_assert_uint_eq(usec, 60000000);
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	setenv("WATCHDOG_PID", pid, 1);
	usec = 0;
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), 0);
	ck_assert_uint_eq(usec, 0);
	setenv("WATCHDOG_PID", "me", 1);
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "$WATCHDOG_PID=\"me\": not a process id"));
	setenv("WATCHDOG_PID", "0", 1);
	ck_assert_int_eq(sdnotify_watchdog_usec(&usec, &e), -1);
	unsetenv("WATCHDOG_PID");

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		setenv("WATCHDOG_USEC", bad[i], 1);
		usec = 7;
		ck_assert_msg(sdnotify_watchdog_usec(&usec, &e) == -1,
			      "WATCHDOG_USEC=\"%s\" accepted", bad[i]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
		ck_assert_ptr_nonnull(strstr(e.msg, "$WATCHDOG_USEC="));
		ck_assert_uint_eq(usec, 7);
	}
}
END_TEST

static void set_listen_env(const char *pid, const char *fds)
{
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", fds, 1);
	setenv("LISTEN_FDNAMES", "smkeyd.socket", 1);
}

static int listen_env_gone(void)
{
	return getenv("LISTEN_PID") == NULL && getenv("LISTEN_FDS") == NULL &&
	       getenv("LISTEN_FDNAMES") == NULL;
}

/* Run sdnotify_listen_fds with fd 3 being sock (or closed, sock < 0); whatever
 * the test harness keeps at fd 3 is put back before any assertion. Returns
 * its result; *cloexec says whether fd 3 came back close-on-exec. */
static int listen_fds_at_3(int sock, int unset_env, int *cloexec, smk_err *e)
{
	int saved = dup(3), rc, flags;

	if (sock >= 0) {
		dup2(sock, 3);
		fcntl(3, F_SETFD, 0);
	} else {
		close(3);
	}
	rc = sdnotify_listen_fds(unset_env, e);
	flags = fcntl(3, F_GETFD);
	*cloexec = flags >= 0 && (flags & FD_CLOEXEC);
	if (saved >= 0) {
		dup2(saved, 3);
		close(saved);
	} else {
		close(3);
	}
	return rc;
}

START_TEST(listen_fds_ours)
{
	char pid[32];
	smk_err e;
	int sock, cloexec, rc;

	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(sock, 0);
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());

	set_listen_env(pid, "1");
	rc = listen_fds_at_3(sock, 1, &cloexec, &e);
	ck_assert_msg(rc == 1, "%s", e.msg);
	ck_assert_int_eq(cloexec, 1);
	ck_assert(listen_env_gone());

	/* without unset_env the variables stay */
	set_listen_env(pid, "1");
	ck_assert_int_eq(listen_fds_at_3(sock, 0, &cloexec, &e), 1);
	ck_assert_str_eq(getenv("LISTEN_FDS"), "1");

	set_listen_env(pid, "0");
	ck_assert_int_eq(listen_fds_at_3(sock, 1, &cloexec, &e), 0);
	ck_assert_int_eq(cloexec, 0);
	close(sock);
}
END_TEST

START_TEST(listen_fds_not_ours)
{
	char pid[32];
	smk_err e;
	int cloexec;

	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	ck_assert_int_eq(sdnotify_listen_fds(1, &e), 0);

	/* passed to our parent, inherited by us: not ours to take, and the
	 * descriptor (closed here) is not looked at */
	snprintf(pid, sizeof(pid), "%ld", (long)getppid());
	set_listen_env(pid, "1");
	ck_assert_int_eq(listen_fds_at_3(-1, 1, &cloexec, &e), 0);
	ck_assert(listen_env_gone());

	/* LISTEN_PID without LISTEN_FDS: nothing passed */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("LISTEN_PID", pid, 1);
	ck_assert_int_eq(sdnotify_listen_fds(1, &e), 0);
}
END_TEST

START_TEST(listen_fds_malformed)
{
	static const char *bad_fds[] = {
	    "", "x", "-1", "1 ", "0x1", "2147483645", "99999999999999999999"};
	static const char *bad_pid[] = {"", "me", "-1", "0", "99999999999"};
	char pid[32];
	smk_err e;
	size_t i;
	int sock, cloexec;

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	for (i = 0; i < sizeof(bad_fds) / sizeof(bad_fds[0]); i++) {
		set_listen_env(pid, bad_fds[i]);
		ck_assert_msg(sdnotify_listen_fds(1, &e) == -1, "LISTEN_FDS=\"%s\" accepted",
			      bad_fds[i]);
		ck_assert_int_eq(e.code, SMK_E_FORMAT);
		ck_assert_ptr_nonnull(strstr(e.msg, "$LISTEN_FDS="));
		/* unset also after an error */
		ck_assert(listen_env_gone());
	}
	for (i = 0; i < sizeof(bad_pid) / sizeof(bad_pid[0]); i++) {
		set_listen_env(bad_pid[i], "1");
		ck_assert_msg(sdnotify_listen_fds(1, &e) == -1, "LISTEN_PID=\"%s\" accepted",
			      bad_pid[i]);
		ck_assert_ptr_nonnull(strstr(e.msg, "$LISTEN_PID="));
		ck_assert(listen_env_gone());
	}
	/* a count that names a descriptor that is not open */
	set_listen_env(pid, "1");
	ck_assert_int_eq(listen_fds_at_3(-1, 1, &cloexec, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "descriptor 3"));
	/* fd 3 open, fd 4 taken by nothing we know: 2 passes only if both are */
	sock = socket(AF_UNIX, SOCK_STREAM, 0);
	set_listen_env(pid, "2147483644");
	ck_assert_int_eq(listen_fds_at_3(sock, 1, &cloexec, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	close(sock);
}
END_TEST

START_TEST(journal_exact_bytes)
{
	/* MESSAGE has a newline: the binary form, length 11 as 64-bit
	 * little-endian; the others "NAME=value\n" */
	static const char want[] = "MESSAGE\n\x0b\0\0\0\0\0\0\0"
				   "two\nlines!\n"
				   "\n"
				   "PRIORITY=6\n"
				   "REQUEST_ID=00112233445566778899aabbccddeeff\n"
				   "EMPTY=\n";
	const sdn_field f[] = {
	    {"MESSAGE", "two\nlines!\n"},
	    {"PRIORITY", "6"},
	    {"REQUEST_ID", "00112233445566778899aabbccddeeff"},
	    {"EMPTY", ""},
	};
	char dir[64], path[128];
	smk_err e;
	int fd;

	tu_temp_dir(dir, sizeof(dir), "sdnotify");
	snprintf(path, sizeof(path), "%s/journal", dir);
	fd = bind_dgram(path);
	ck_assert_msg(sdnotify_journal_send(path, f, 4, &e) == 0, "%s", e.msg);
	assert_datagram(fd, want, sizeof(want) - 1);

	/* a plain one-line message */
	{
		const sdn_field g[] = {{"MESSAGE", "smkeyd ready"},
				       {"SYSLOG_IDENTIFIER", "smkeyd"}};

		ck_assert_int_eq(sdnotify_journal_send(path, g, 2, &e), 0);
		assert_datagram(fd, "MESSAGE=smkeyd ready\nSYSLOG_IDENTIFIER=smkeyd\n", 46);
	}
	close(fd);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(journal_refuses_bad_fields)
{
	const char *bad[] = {"", "message", "_PID", "1ST", "MESSAGE ID", "MESSAGE=", NULL};
	sdn_field f[SDN_JOURNAL_MAX_FIELDS + 1];
	char dir[64], path[128], name64[65], name65[66];
	smk_err e;
	size_t i;
	int fd;

	tu_temp_dir(dir, sizeof(dir), "sdnotify");
	snprintf(path, sizeof(path), "%s/journal", dir);
	fd = bind_dgram(path);
	memset(name64, 'A', 64);
	name64[64] = '\0';
	memset(name65, 'A', 65);
	name65[65] = '\0';
	bad[sizeof(bad) / sizeof(bad[0]) - 1] = name65;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		f[0] = (sdn_field){"MESSAGE", "hello"};
		f[1] = (sdn_field){bad[i], "x"};
		ck_assert_msg(sdnotify_journal_send(path, f, 2, &e) == -1,
			      "field name \"%s\" accepted", bad[i]);
		ck_assert_int_eq(e.code, SMK_E_ARG);
		/* nothing half-sent */
		assert_nothing(fd);
	}
	/* 64 bytes is the longest name */
	f[1] = (sdn_field){name64, "x"};
	ck_assert_msg(sdnotify_journal_send(path, f, 2, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(recv_now(fd, (char[256]){0}, 256), 14 + 64 + 3);
	f[1] = (sdn_field){"NOVALUE", NULL};
	ck_assert_int_eq(sdnotify_journal_send(path, f, 2, &e), -1);

	for (i = 0; i < SDN_JOURNAL_MAX_FIELDS + 1; i++)
		f[i] = (sdn_field){"MESSAGE", "x"};
	ck_assert_int_eq(sdnotify_journal_send(path, f, 0, &e), -1);
	ck_assert_int_eq(sdnotify_journal_send(path, f, SDN_JOURNAL_MAX_FIELDS + 1, &e), -1);
	ck_assert_int_eq(sdnotify_journal_send(path, f, SDN_JOURNAL_MAX_FIELDS, &e), 0);
	assert_datagram(fd,
			"MESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\n"
			"MESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\n"
			"MESSAGE=x\nMESSAGE=x\nMESSAGE=x\nMESSAGE=x\n",
			16 * 10);
	close(fd);
	unlink(path);

	/* no journal there: an error the log can fall back from */
	ck_assert_int_eq(sdnotify_journal_send(path, f, 1, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	ck_assert_ptr_nonnull(strstr(e.msg, "journal: "));
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sdnotify");
	TCase *t = tcase_create("notify");

	tcase_add_test(t, notify_path_socket);
	tcase_add_test(t, notify_abstract_socket);
	tcase_add_test(t, notify_unset_sends_nothing);
	tcase_add_test(t, notify_bad_addresses);
	tcase_add_test(t, watchdog_values);
	suite_add_tcase(s, t);
	t = tcase_create("listen_fds");
	tcase_add_test(t, listen_fds_ours);
	tcase_add_test(t, listen_fds_not_ours);
	tcase_add_test(t, listen_fds_malformed);
	suite_add_tcase(s, t);
	t = tcase_create("journal");
	tcase_add_test(t, journal_exact_bytes);
	tcase_add_test(t, journal_refuses_bad_fields);
	suite_add_tcase(s, t);
	return tu_run(s);
}
