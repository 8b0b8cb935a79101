/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * daemon/log.c as journald and a reader of stderr see it: the exact journal
 * entry a line becomes (fields present only when given, a multi-line
 * message in the binary form), the plain line on stderr when the journal
 * does not take the entry, and how $JOURNAL_STREAM picks the target. Check
 * runs each test in its own process, so log.c's state does not carry over.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "tests/lib/testutil.h"

static char dir[64], sock_path[128];

static int journal_at(void)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	tu_temp_dir(dir, sizeof(dir), "smk-log");
	snprintf(sock_path, sizeof(sock_path), "%s/journal", dir);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	log_set_journal_socket(sock_path);
	return fd;
}

static void assert_entry(int fd, const char *want, size_t n)
{
	char buf[4096];
	ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	ck_assert_msg(r >= 0, "no journal entry: %s", strerror(errno));
	ck_assert_uint_eq((size_t)r, n);
	ck_assert_msg(memcmp(buf, want, n) == 0, "entry differs: %.*s", (int)r, buf);
}

/* stderr into a fresh file; returns the saved stderr for restore_stderr */
static int stderr_to(const char *path)
{
	int saved = dup(STDERR_FILENO), fd = open(path, O_CREAT | O_TRUNC | O_RDWR, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	close(fd);
	return saved;
}

static void restore_stderr(int saved)
{
	dup2(saved, STDERR_FILENO);
	close(saved);
}

START_TEST(journal_entry_fields)
{
	static const char want_fields[] = "MESSAGE=key 2 \"apk\" archived as record 1\n"
					  "PRIORITY=6\n"
					  "SYSLOG_IDENTIFIER=smkeyd\n"
					  "REQUEST_ID=f6a4c0ffee\n"
					  "POLICY=release-apk\n"
					  "DEVICE=ZZSIM00001\n"
					  "OUTCOME=committed\n";
	static const char want_plain[] = "MESSAGE=reload refused\n"
					 "PRIORITY=3\n"
					 "SYSLOG_IDENTIFIER=smkeyd\n";
	/* a newline in the text: MESSAGE in the binary form, length 9 */
	static const char want_multi[] = "MESSAGE\n\x09\0\0\0\0\0\0\0"
					 "one\ntwo 2\n"
					 "PRIORITY=4\n"
					 "SYSLOG_IDENTIFIER=smkeyd\n"
					 "OUTCOME=failed\n";
	static const char want_debug[] = "MESSAGE=sent\nPRIORITY=7\nSYSLOG_IDENTIFIER=smkeyd\n";
	const log_fields f = {"f6a4c0ffee", "release-apk", "ZZSIM00001", "committed"};
	const log_fields only_outcome = {NULL, NULL, NULL, "failed"};
	int fd = journal_at();
	char buf[16];

	log_init(LOG_TARGET_JOURNAL, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_JOURNAL);
	log_msg(LOG_INFO, &f, "key %d \"%s\" archived as record %d", 2, "apk", 1);
	assert_entry(fd, want_fields, sizeof(want_fields) - 1);
	log_err("reload refused");
	assert_entry(fd, want_plain, sizeof(want_plain) - 1);
	log_msg(LOG_WARNING, &only_outcome, "one\ntwo %d", 2);
	assert_entry(fd, want_multi, sizeof(want_multi) - 1);
	/* debug lines only with --debug */
	log_debug("not sent");
	ck_assert_int_eq(recv(fd, buf, sizeof(buf), MSG_DONTWAIT), -1);
	log_init(LOG_TARGET_JOURNAL, 1);
	log_debug("sent");
	assert_entry(fd, want_debug, sizeof(want_debug) - 1);

	close(fd);
	unlink(sock_path);
	rmdir(dir);
}
END_TEST

START_TEST(journal_gone_line_on_stderr)
{
	const log_fields f = {"f6a4c0ffee", NULL, "ZZSIM00001", "failed"};
	char path[160], buf[512];
	int fd = journal_at(), saved;
	ssize_t n;

	/* journald went away (restarting): nobody at the socket */
	close(fd);
	unlink(sock_path);
	snprintf(path, sizeof(path), "%s/stderr", dir);
	saved = stderr_to(path);
	log_init(LOG_TARGET_JOURNAL, 0);
	log_msg(LOG_ERR, &f, "GAKP refused");
	restore_stderr(saved);

	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, "smkeyd: error: GAKP refused request_id=f6a4c0ffee device=ZZSIM00001 "
			      "outcome=failed\n");
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(journal_stream_picks_target)
{
	char path[160], other[160], js[64];
	struct stat st;
	int saved, fd;

	tu_temp_dir(dir, sizeof(dir), "smk-log");
	snprintf(path, sizeof(path), "%s/stderr", dir);
	snprintf(other, sizeof(other), "%s/other", dir);
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	saved = stderr_to(path);
	ck_assert_int_eq(fstat(STDERR_FILENO, &st), 0);

	/* systemd's DEV:INODE of stderr: the journal */
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOG_TARGET_AUTO, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_JOURNAL);
	/* --stderr wins */
	log_init(LOG_TARGET_STDERR, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_STDERR);

	/* stderr redirected elsewhere since systemd set the variable */
	ck_assert_int_eq(stat(other, &st), 0);
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	log_init(LOG_TARGET_AUTO, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_STDERR);

	setenv("JOURNAL_STREAM", "garbage", 1);
	log_init(LOG_TARGET_AUTO, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_STDERR);
	unsetenv("JOURNAL_STREAM");
	log_init(LOG_TARGET_AUTO, 0);
	ck_assert_int_eq(log_target_used(), LOG_TARGET_STDERR);

	restore_stderr(saved);
	unlink(path);
	unlink(other);
	rmdir(dir);
}
END_TEST

/* Names that came from a client, a card or a policy file, logged as %s
 * arguments or request fields: each line stays one line on stderr and in the
 * journal, with the escape visible; the message's own newlines are ours. */
START_TEST(hostile_arguments_stay_on_their_line)
{
	static const char field[] = "label\n\x1b[2Ksmkeyd: info: key 9 archived\r";
	static const char want[] =
	    "smkeyd: info: client 7: unknown field \"label\\n\\x1B[2Ksmkeyd: info: key 9 "
	    "archived\\r\"; closing       0042 ab 00ff 1.5 [   x\\x07] [\\x1B] request_id=id\\n1 "
	    "policy=p\\x1B device=reader\\r outcome=failed\n";
	/* the journal entry: one field per line, every value on its own */
	static const char want_entry[] = "MESSAGE=Generate \"a\\nb\" from \\x1B[31m (99%)\n"
					 "PRIORITY=5\n"
					 "SYSLOG_IDENTIFIER=smkeyd\n"
					 "POLICY=release\\napk\n";
	static const char want_ours[] = "MESSAGE\n\x11\0\0\0\0\0\0\0"
					"first\nsecond a\\nb\n"
					"PRIORITY=6\n"
					"SYSLOG_IDENTIFIER=smkeyd\n";
	static const char want_errno[] = "MESSAGE=No such file or directory x\\ty 3\n"
					 "PRIORITY=6\n"
					 "SYSLOG_IDENTIFIER=smkeyd\n";
	const log_fields f = {"id\n1", "p\x1b", "reader\r", "failed"};
	const log_fields pf = {NULL, "release\napk", NULL, NULL};
	char path[160], buf[1024];
	int fd, saved;
	ssize_t n;

	tu_temp_dir(dir, sizeof(dir), "smk-log");
	snprintf(path, sizeof(path), "%s/stderr", dir);
	saved = stderr_to(path);
	log_init(LOG_TARGET_STDERR, 0);
	log_msg(LOG_INFO, &f,
		"client %d: unknown field \"%.60s\"; closing %5s %04d %x %04zx %.1f [%*s] [%c]", 7,
		field, "", 42, 0xab, (size_t)0xff, 1.5, 8, "x\a", 0x1b);
	restore_stderr(saved);
	fd = open(path, O_RDONLY);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_str_eq(buf, want);
	unlink(path);
	rmdir(dir);

	fd = journal_at();
	log_init(LOG_TARGET_JOURNAL, 0);
	log_msg(LOG_NOTICE, &pf, "Generate \"%s\" from %s (99%%)", "a\nb", "\x1b[31m");
	assert_entry(fd, want_entry, sizeof(want_entry) - 1);
	log_info("first\nsecond %s", "a\nb");
	assert_entry(fd, want_ours, sizeof(want_ours) - 1);
	/* glibc's %m reads no argument: the ones after it stay in place */
	errno = ENOENT;
	log_info("%m %s %d", "x\ty", 3);
	assert_entry(fd, want_errno, sizeof(want_errno) - 1);
	close(fd);
	unlink(sock_path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("log");
	TCase *t = tcase_create("log");

	tcase_add_test(t, journal_entry_fields);
	tcase_add_test(t, journal_gone_line_on_stderr);
	tcase_add_test(t, journal_stream_picks_target);
	tcase_add_test(t, hostile_arguments_stay_on_their_line);
	suite_add_tcase(s, t);
	return tu_run(s);
}
