/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common/file.c, output files: what smkey writes goes to a new file, never
 * through a symbolic link (the link's target, a victim file, stays as it
 * was), never over an existing file without SMK_OUT_FORCE; a file given up
 * leaves nothing behind, and the destination is whole or untouched.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"
#include "tests/lib/testutil.h"

static char dir[64];

static void setup(void)
{
	tu_temp_dir(dir, sizeof(dir), "smk-file");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void path_of(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

static void put(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* the file's content as a C string, in a static buffer */
static const char *content(const char *path)
{
	static char buf[256];
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(smk_read_file(path, sizeof(buf) - 1, &b, &e) == 0, "%s", e.msg);
	memcpy(buf, b.data, b.len);
	buf[b.len] = '\0';
	smk_buf_free(&b);
	return buf;
}

/* entries of dir (no temporary file may be left behind) */
static int entries(void)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	closedir(d);
	return n;
}

START_TEST(new_file_written_whole)
{
	char out[128];
	struct stat st;
	mode_t old;
	smk_err e;

	path_of(out, sizeof(out), "out.pem");
	old = umask(022);
	ck_assert_msg(smk_write_new_file(out, "key\n", 4, 0, &e) == 0, "%s", e.msg);
	umask(old);
	ck_assert_str_eq(content(out), "key\n");
	ck_assert_int_eq(stat(out, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0644);
	ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(symlink_to_a_victim_is_left_alone)
{
	char victim[128], link_path[128];
	smk_err e;

	path_of(victim, sizeof(victim), "victim");
	path_of(link_path, sizeof(link_path), "report.txt");
	put(victim, "precious\n");
	ck_assert_int_eq(symlink(victim, link_path), 0);
	ck_assert_int_eq(smk_write_new_file(link_path, "evil\n", 5, 0, &e), -1);
	ck_assert_msg(strstr(e.msg, link_path) && strstr(e.msg, "symbolic link"), "%s", e.msg);
	/* not with --force either */
	ck_assert_int_eq(smk_write_new_file(link_path, "evil\n", 5, SMK_OUT_FORCE, &e), -1);
	ck_assert_msg(strstr(e.msg, "symbolic link"), "%s", e.msg);
	ck_assert_str_eq(content(victim), "precious\n");
	/* a dangling link would create the victim: refused too */
	ck_assert_int_eq(unlink(victim), 0);
	ck_assert_int_eq(smk_write_new_file(link_path, "evil\n", 5, 0, &e), -1);
	ck_assert_int_eq(access(victim, F_OK), -1);
	ck_assert_int_eq(entries(), 1);
}
END_TEST

START_TEST(existing_file_replaced_only_with_force)
{
	char out[128];
	smk_outfile o;
	smk_err e;

	path_of(out, sizeof(out), "bundle.json");
	put(out, "old\n");
	ck_assert_int_eq(smk_write_new_file(out, "new\n", 4, 0, &e), -1);
	ck_assert_msg(strstr(e.msg, out) && strstr(e.msg, "exists; not overwriting it"), "%s",
		      e.msg);
	ck_assert_str_eq(content(out), "old\n");
	ck_assert_msg(smk_write_new_file(out, "new\n", 4, SMK_OUT_FORCE, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(content(out), "new\n");

	/* a file that appears while the output is written is not replaced */
	ck_assert_int_eq(unlink(out), 0);
	ck_assert_int_eq(smk_outfile_open(&o, out, 0, &e), 0);
	fputs("late\n", o.f);
	put(out, "first\n");
	ck_assert_int_eq(smk_outfile_commit(&o, &e), -1);
	ck_assert_msg(strstr(e.msg, "exists"), "%s", e.msg);
	ck_assert_str_eq(content(out), "first\n");
	ck_assert_int_eq(entries(), 1);
	/* a directory is never replaced */
	ck_assert_int_eq(smk_write_new_file(dir, "x", 1, SMK_OUT_FORCE, &e), -1);
}
END_TEST

START_TEST(abort_leaves_nothing)
{
	char out[128];
	smk_outfile o;
	smk_err e;

	path_of(out, sizeof(out), "report.txt");
	ck_assert_int_eq(smk_outfile_open(&o, out, 0, &e), 0);
	fputs("half a report", o.f);
	ck_assert_int_eq(entries(), 1); /* the temporary file */
	ck_assert_int_eq(access(out, F_OK), -1);
	smk_outfile_abort(&o);
	ck_assert_int_eq(entries(), 0);
	smk_outfile_abort(&o); /* twice is harmless */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("file");
	TCase *tc = tcase_create("output");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, new_file_written_whole);
	tcase_add_test(tc, symlink_to_a_victim_is_left_alone);
	tcase_add_test(tc, existing_file_replaced_only_with_force);
	tcase_add_test(tc, abort_leaves_nothing);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
