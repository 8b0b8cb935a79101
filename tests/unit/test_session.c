/*
 * The card session: the PIN source, and (against the simulator, in-process)
 * the handshake, every key type under SM, recovery and refusals.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers/testutil.h"
#include "sm/pin.h"

/* ---- PIN source ---- */

static char pin_dir[64];

static void pin_setup(void)
{
	strcpy(pin_dir, "/tmp/smk-pin-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(pin_dir));
}

static void pin_teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", pin_dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write content to a file in pin_dir with the given mode; returns its path. */
static const char *pin_file(const char *name, const char *content, size_t n, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, n), (ssize_t)n);
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
	return path;
}

static void assert_pin(const smk_pin_source *src, const char *want)
{
	smk_buf pin = SMK_BUF_INIT;
	smk_err e;

	pin.secret = 1;
	ck_assert_msg(pin_get(src, &pin, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(pin.len, strlen(want));
	ck_assert_mem_eq(pin.data, want, pin.len);
	smk_buf_free(&pin);
}

START_TEST(pin_file_newline_forms)
{
	static const char *forms[] = {"648219", "648219\n", "648219\r\n"};
	smk_pin_source src;
	smk_err e;
	size_t i;

	for (i = 0; i < 3; i++) {
		const char *p = pin_file("pin", forms[i], strlen(forms[i]), 0600);

		ck_assert_msg(pin_source_file(&src, p, &e) == 0, "%s", e.msg);
		assert_pin(&src, "648219");
		pin_source_free(&src);
	}
}
END_TEST

START_TEST(pin_file_is_reread_at_each_use)
{
	smk_pin_source src;
	const char *p;
	smk_err e;

	p = pin_file("pin", "111111\n", 7, 0640);
	ck_assert_msg(pin_source_file(&src, p, &e) == 0, "%s", e.msg);
	assert_pin(&src, "111111");
	/* the operator fixes the PIN: the next use sees the new one */
	pin_file("pin", "2222222222\n", 11, 0600);
	assert_pin(&src, "2222222222");
	pin_source_free(&src);
}
END_TEST

/* Every refusal names the file and never shows the PIN. */
START_TEST(pin_file_refusals)
{
	static const struct {
		const char *content;
		mode_t mode;
		enum smk_errc code;
		const char *says;
	} cases[] = {
		{"98765", 0600, SMK_E_ARG, "6 to 16 bytes"},             /* too short */
		{"98765432109876543", 0600, SMK_E_ARG, "6 to 16 bytes"},  /* 17 bytes */
		{"98765432109876543210987654321", 0600, SMK_E_ARG, "longer than a PIN"},
		{"987654\n123456\n", 0600, SMK_E_ARG, "control character"},  /* two lines */
		{"987654\n", 0644, SMK_E_DENIED, "mode 644"},                /* world-readable */
		{"987654\n", 0620, SMK_E_DENIED, "mode 620"},                /* group-writable */
		{"\n", 0600, SMK_E_ARG, "6 to 16 bytes"},                   /* empty */
	};
	smk_pin_source src;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *p = pin_file("pin", cases[i].content, strlen(cases[i].content),
					 cases[i].mode);

		ck_assert_int_eq(pin_source_file(&src, p, &e), -1);
		ck_assert_msg(e.code == cases[i].code, "case %zu: %s", i, e.msg);
		ck_assert_msg(strstr(e.msg, cases[i].says) != NULL, "case %zu: %s", i, e.msg);
		ck_assert_msg(strstr(e.msg, p) != NULL, "case %zu names no file: %s", i, e.msg);
		ck_assert_msg(strstr(e.msg, "9876") == NULL, "case %zu shows the PIN: %s", i,
			      e.msg);
		pin_source_free(&src);
	}
}
END_TEST

START_TEST(pin_file_symlink_and_missing)
{
	char link[160];
	smk_pin_source src;
	smk_err e;
	const char *p = pin_file("pin", "648219", 6, 0600);

	snprintf(link, sizeof(link), "%s/link", pin_dir);
	ck_assert_int_eq(symlink(p, link), 0);
	ck_assert_int_eq(pin_source_file(&src, link, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	pin_source_free(&src);

	snprintf(link, sizeof(link), "%s/absent", pin_dir);
	ck_assert_int_eq(pin_source_file(&src, link, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	ck_assert_ptr_nonnull(strstr(e.msg, "absent"));
	pin_source_free(&src);

	ck_assert_int_eq(pin_source_file(&src, pin_dir, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));
	pin_source_free(&src);
}
END_TEST

START_TEST(pin_fd_read_once_and_kept)
{
	smk_pin_source src;
	smk_buf plain = SMK_BUF_INIT;
	smk_err e;
	int fds[2];

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "12345678\n", 9), 9);
	close(fds[1]);
	ck_assert_msg(pin_source_fd(&src, fds[0], &e) == 0, "%s", e.msg);
	close(fds[0]);
	/* the fd is spent, the PIN still serves every later VERIFY */
	assert_pin(&src, "12345678");
	assert_pin(&src, "12345678");
	/* a buffer that is not wiped on free does not get the PIN */
	ck_assert_int_eq(pin_get(&src, &plain, &e), -1);
	ck_assert_uint_eq(plain.len, 0);
	pin_source_free(&src);
	ck_assert_ptr_null(src.kept.data);
	ck_assert_int_eq(pin_get(&src, &plain, &e), -1);

	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], "12", 2), 2);
	close(fds[1]);
	ck_assert_int_eq(pin_source_fd(&src, fds[0], &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "fd"));
	close(fds[0]);
	pin_source_free(&src);
	ck_assert_int_eq(pin_source_fd(&src, -1, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	pin_source_free(&src);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("pin");

	tcase_add_checked_fixture(tc, pin_setup, pin_teardown);
	tcase_add_test(tc, pin_file_newline_forms);
	tcase_add_test(tc, pin_file_is_reread_at_each_use);
	tcase_add_test(tc, pin_file_refusals);
	tcase_add_test(tc, pin_file_symlink_and_missing);
	tcase_add_test(tc, pin_fd_read_once_and_kept);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
