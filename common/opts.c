/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Options by table (see opts.h): the groups' tables become one getopt_long
 * table and short-option string, and each option getopt returns is kept
 * where its row says.
 */
#include "opts.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OPTS 31 /* one bit each in the "given" mask */

/* getopt's value for the n-th option: its letter, or one past the chars */
static int opt_val(const smk_opt *o, size_t n)
{
	return o->letter ? o->letter : 256 + (int)n;
}

/* One getopt table for all groups: row n of it is the option rows[n] of
 * the group owners[n]. Returns the number of options, or -1: too many. */
static int build(const smk_opt_group *groups, size_t ngroups, struct option *longs,
		 const smk_opt **rows, const smk_opt_group **owners, char *shorts, size_t cap)
{
	const smk_opt *o;
	size_t n = 0, ns = 0, g;

	for (g = 0; g < ngroups; g++)
		for (o = groups[g].opts; o && o->name; o++) {
			if (n >= MAX_OPTS || ns + 3 > cap)
				return -1;
			longs[n].name = o->name;
			longs[n].has_arg = o->kind == SMK_OPT_FLAG || o->kind == SMK_OPT_STOP
					       ? no_argument
					       : required_argument;
			longs[n].flag = NULL;
			longs[n].val = opt_val(o, n);
			if (o->letter) {
				shorts[ns++] = o->letter;
				if (longs[n].has_arg == required_argument)
					shorts[ns++] = ':';
			}
			rows[n] = o;
			owners[n++] = &groups[g];
		}
	memset(&longs[n], 0, sizeof(longs[n]));
	shorts[ns] = '\0';
	return (int)n;
}

/* Keep option o's argument in ctx as its row says. */
static int keep(const char *prog, const smk_opt_group *g, const smk_opt *o, const char *arg)
{
	void *field = smk_opt_field(g->ctx, o);

	switch (o->kind) {
	case SMK_OPT_STRING:
		*(const char **)field = arg;
		return 0;
	case SMK_OPT_FLAG:
	case SMK_OPT_STOP:
		*(int *)field = 1;
		return 0;
	case SMK_OPT_NUMBER:
		return smk_opts_number(prog, o->name, arg, o->min, o->max, (long *)field);
	case SMK_OPT_OWN:
		return g->own_fn ? g->own_fn(g->ctx, o, arg) : SMK_OPTS_BAD;
	}
	return SMK_OPTS_BAD;
}

int smk_opts_parse(const char *prog, const smk_opt_group *groups, size_t ngroups, int argc,
		   char **argv, int *first)
{
	struct option longs[MAX_OPTS + 1];
	const smk_opt *rows[MAX_OPTS];
	const smk_opt_group *owners[MAX_OPTS];
	char shorts[2 * MAX_OPTS + 1];
	unsigned long given = 0;
	int n, opt, i, rc;

	n = build(groups, ngroups, longs, rows, owners, shorts, sizeof(shorts));
	if (n < 0) {
		fprintf(stderr, "%s: too many options\n", prog);
		return SMK_OPTS_SAID;
	}
	optind = 1;
	while ((opt = getopt_long(argc, argv, shorts, longs, NULL)) != -1) {
		for (i = 0; i < n && longs[i].val != opt; i++)
			;
		if (i == n) /* '?': getopt said what is wrong */
			return SMK_OPTS_BAD;
		rc = keep(prog, owners[i], rows[i], optarg);
		if (rc != 0)
			return rc;
		given |= 1ul << i;
		if (rows[i]->kind == SMK_OPT_STOP)
			return SMK_OPTS_STOPPED;
	}
	for (i = 0; i < n; i++)
		if (rows[i]->required && !(given & (1ul << i)))
			return SMK_OPTS_BAD;
	*first = optind;
	return 0;
}

void *smk_opt_field(void *ctx, const smk_opt *opt)
{
	return (char *)ctx + opt->offset;
}

int smk_opts_number(const char *prog, const char *option, const char *arg, long min, long max,
		    long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || v < min || v > max) {
		fprintf(stderr, "%s: --%s must be from %ld to %ld\n", prog, option, min, max);
		return SMK_OPTS_SAID;
	}
	*out = v;
	return 0;
}
