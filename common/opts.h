/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command-line options described by tables: each option names its long form
 * (and maybe a letter), how its argument is kept and where, in a struct of
 * the caller's. One getopt_long loop for smkeyd, smkey card, smkey cvc
 * verify and the smkey commands that ask smkeyd (client/cmdline.h), so a
 * program states its options once, as data, instead of in a getopt table
 * and a switch.
 */
#ifndef SMK_OPTS_H
#define SMK_OPTS_H

#include <stddef.h>

/* How an option keeps its argument, in its group's struct at its offset. */
enum smk_opt_kind {
	SMK_OPT_STRING, /* const char *: the argument */
	SMK_OPT_FLAG,	/* int: 1; takes no argument */
	SMK_OPT_STOP,	/* int: 1; takes no argument and ends the parse (--help, --version) */
	SMK_OPT_NUMBER, /* long: a decimal number from min to max; otherwise
			   "PROG: --NAME must be from MIN to MAX" on stderr */
	SMK_OPT_OWN,	/* the group's own_fn keeps it */
};

typedef struct smk_opt {
	const char *name;	/* "config": --config */
	char letter;		/* 'c': -c too; 0: the long name only */
	enum smk_opt_kind kind; /* how its argument is kept */
	size_t offset;		/* offsetof(the group's struct, the field) */
	int required;		/* the parse fails without it */
	long min, max;		/* SMK_OPT_NUMBER: the range */
} smk_opt;

/* What smk_opts_parse returns, besides 0 (all parsed). */
#define SMK_OPTS_STOPPED 1 /* an SMK_OPT_STOP option ended the parse */
#define SMK_OPTS_BAD                                                                               \
	(-1)		   /* a bad option or argument, or a required one missing:                 \
			      the caller prints its usage (getopt named the option) */
#define SMK_OPTS_SAID (-2) /* an argument refused, and the message says why */

/* A table of options and the struct its options are kept in. */
typedef struct smk_opt_group {
	const smk_opt *opts; /* ending in a row with no name */
	void *ctx;	     /* the struct the offsets are into */
	/* SMK_OPT_OWN: keep arg; 0, SMK_OPTS_BAD or SMK_OPTS_SAID */
	int (*own_fn)(void *ctx, const smk_opt *opt, const char *arg);
} smk_opt_group;

/* Parse argv[1..argc) against the groups' options (in that order, no
 * letter or long name twice) with getopt_long from the start; prog names
 * the program in SMK_OPT_NUMBER's message ("smkey adopt"). 0 when
 * everything parsed and every required option was given, with *first the
 * index of the first operand; SMK_OPTS_STOPPED, SMK_OPTS_BAD or
 * SMK_OPTS_SAID otherwise. At most 31 options in all. */
int smk_opts_parse(const char *prog, const smk_opt_group *groups, size_t ngroups, int argc,
		   char **argv, int *first);

/* Where opt keeps its argument in ctx (its group's struct), for an own_fn. */
void *smk_opt_field(void *ctx, const smk_opt *opt);

/* arg as a decimal number from min to max into *out, 0; otherwise "PROG:
 * --OPTION must be from MIN to MAX" on stderr and SMK_OPTS_SAID. */
int smk_opts_number(const char *prog, const char *option, const char *arg, long min, long max,
		    long *out);

#endif
