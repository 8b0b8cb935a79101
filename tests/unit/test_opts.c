/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * common/opts.c: options parsed by table. Each kind keeps its argument in
 * the field its row names, letters work beside long names, a number out of
 * range or a missing required option or an unknown one fails the parse,
 * a stop option (--help) ends it before anything after it is looked at,
 * and two groups keep their options in two structs.
 */
#include <stddef.h>
#include <string.h>

#include "common/opts.h"
#include "tests/lib/testutil.h"

struct args {
	const char *name, *dir;
	long count, own;
	int verbose, help;
};

static int own_calls;

/* keeps the argument's length, to show the row and ctx it was given */
static int keep_len(void *ctx, const smk_opt *opt, const char *arg)
{
	own_calls++;
	if (strcmp(arg, "refuse") == 0)
		return SMK_OPTS_BAD;
	*(long *)smk_opt_field(ctx, opt) = (long)strlen(arg);
	return 0;
}

static const smk_opt table[] = {
    {"name", 'n', .offset = offsetof(struct args, name), .required = 1},
    {"dir", .offset = offsetof(struct args, dir)},
    {"count", .kind = SMK_OPT_NUMBER, .offset = offsetof(struct args, count), .min = 1, .max = 9},
    {"own", .kind = SMK_OPT_OWN, .offset = offsetof(struct args, own)},
    {"verbose", 'v', .kind = SMK_OPT_FLAG, .offset = offsetof(struct args, verbose)},
    {"help", 'h', .kind = SMK_OPT_STOP, .offset = offsetof(struct args, help)},
    {.name = NULL},
};

/* argv from a NULL-terminated list; parse it against table into a */
static int parse(struct args *a, int *first, char **argv)
{
	const smk_opt_group g = {table, a, keep_len};
	int argc = 0;

	while (argv[argc])
		argc++;
	memset(a, 0, sizeof(*a));
	own_calls = 0;
	*first = -1;
	return smk_opts_parse("test", &g, 1, argc, argv, first);
}

START_TEST(kinds_keep_their_fields)
{
	char *argv[] = {"prog", "--name", "n1",	  "-v",	 "--dir=/d", "--count",
			"7",	"--own",  "abcd", "op1", "op2",	     NULL};
	struct args a;
	int first;

	ck_assert_int_eq(parse(&a, &first, argv), 0);
	ck_assert_str_eq(a.name, "n1");
	ck_assert_str_eq(a.dir, "/d");
	ck_assert_int_eq(a.count, 7);
	ck_assert_int_eq(a.own, 4);
	ck_assert_int_eq(own_calls, 1);
	ck_assert_int_eq(a.verbose, 1);
	ck_assert_int_eq(a.help, 0);
	ck_assert_int_eq(first, 9);
	ck_assert_str_eq(argv[first], "op1");
}
END_TEST

START_TEST(letters_and_long_names_alike)
{
	char *argv[] = {"prog", "-nx", "--verbose", NULL};
	struct args a;
	int first;

	ck_assert_int_eq(parse(&a, &first, argv), 0);
	ck_assert_str_eq(a.name, "x");
	ck_assert_int_eq(a.verbose, 1);
	ck_assert_int_eq(first, 3);
}
END_TEST

START_TEST(refusals)
{
	char *out_of_range[] = {"prog", "--name", "x", "--count", "10", NULL};
	char *not_a_number[] = {"prog", "--name", "x", "--count", "3z", NULL};
	char *missing[] = {"prog", "--dir", "d", NULL};
	char *unknown[] = {"prog", "--name", "x", "--nope", NULL};
	char *no_letter[] = {"prog", "--name", "x", "-d", "d", NULL};
	char *own_refuses[] = {"prog", "--name", "x", "--own", "refuse", NULL};
	struct args a;
	int first;

	ck_assert_int_eq(parse(&a, &first, out_of_range), SMK_OPTS_SAID);
	ck_assert_int_eq(parse(&a, &first, not_a_number), SMK_OPTS_SAID);
	ck_assert_int_eq(parse(&a, &first, missing), SMK_OPTS_BAD);
	ck_assert_int_eq(parse(&a, &first, unknown), SMK_OPTS_BAD);
	ck_assert_int_eq(parse(&a, &first, no_letter), SMK_OPTS_BAD);
	ck_assert_int_eq(parse(&a, &first, own_refuses), SMK_OPTS_BAD);
	ck_assert_int_eq(first, -1); /* not set when the parse fails */
}
END_TEST

START_TEST(stop_ends_the_parse)
{
	char *argv[] = {"prog", "-h", "--nope", NULL};
	struct args a;
	int first;

	/* --name is required, --nope unknown: neither matters after --help */
	ck_assert_int_eq(parse(&a, &first, argv), SMK_OPTS_STOPPED);
	ck_assert_int_eq(a.help, 1);
}
END_TEST

START_TEST(groups_keep_into_their_own_structs)
{
	static const smk_opt shared[] = {
	    {"json", .kind = SMK_OPT_FLAG, .offset = offsetof(struct args, verbose)},
	    {.name = NULL},
	};
	char *argv[] = {"prog", "--json", "--name", "n", NULL};
	struct args mine, common;
	smk_opt_group g[2] = {{shared, &common, NULL}, {table, &mine, keep_len}};
	int first;

	memset(&mine, 0, sizeof(mine));
	memset(&common, 0, sizeof(common));
	ck_assert_int_eq(smk_opts_parse("test", g, 2, 4, argv, &first), 0);
	ck_assert_int_eq(common.verbose, 1);
	ck_assert_int_eq(mine.verbose, 0);
	ck_assert_str_eq(mine.name, "n");
	ck_assert_ptr_null(common.name);
}
END_TEST

START_TEST(number_message_names_the_option)
{
	long v = 0;

	ck_assert_int_eq(smk_opts_number("test", "count", "5", 1, 9, &v), 0);
	ck_assert_int_eq(v, 5);
	ck_assert_int_eq(smk_opts_number("test", "count", "", 1, 9, &v), SMK_OPTS_SAID);
	ck_assert_int_eq(smk_opts_number("test", "count", "-1", 0, 9, &v), SMK_OPTS_SAID);
	ck_assert_int_eq(v, 5);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("opts");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, kinds_keep_their_fields);
	tcase_add_test(tc, letters_and_long_names_alike);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, stop_ends_the_parse);
	tcase_add_test(tc, groups_keep_into_their_own_structs);
	tcase_add_test(tc, number_message_names_the_option);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
