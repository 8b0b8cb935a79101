/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One option parser for the commands that ask smkeyd: each describes its own
 * options in a cmdline_spec, and cmdline_parse adds the ones they share
 * (--socket PATH, -h/--help, and where the command takes them --json,
 * -o/--output FILE and --force), keeps each of its own options' argument
 * where its table says, prints the usage on --help or a bad argument, and
 * checks the number of operands and that the required options were given.
 */
#ifndef SMK_CLIENT_CMDLINE_H
#define SMK_CLIENT_CMDLINE_H

#include <stdio.h>

#include "common/opts.h"

/* Which shared options a command takes besides --socket and --help. */
#define CMDLINE_JSON 0x1   /* --json */
#define CMDLINE_OUTPUT 0x2 /* -o/--output FILE and --force */

typedef struct cmdline_spec {
	const char *name; /* "adopt": the command, for its usage */
	unsigned shared;  /* CMDLINE_* */
	/* its own options (common/opts.h), kept in the ctx of cmdline_parse;
	 * ending in a row with no name, or NULL. No letter may be 'h', nor
	 * 'o' with CMDLINE_OUTPUT */
	const smk_opt *own;
	/* for its SMK_OPT_OWN options: 0, SMK_OPTS_BAD or SMK_OPTS_SAID */
	int (*own_fn)(void *ctx, const smk_opt *opt, const char *arg);
	int min_operands, max_operands;
	void (*usage)(FILE *f, const char *name);
} cmdline_spec;

typedef struct cmdline_opts {
	const char *socket; /* --socket PATH, or NULL */
	const char *output; /* -o/--output FILE, or NULL */
	int json;	    /* --json given */
	int force;	    /* --force given: an existing output file is replaced */
	int help;	    /* -h/--help given */
	int first;	    /* the operands are argv[first..argc) */
	int status;	    /* after -1: the exit status (0 after --help) */
} cmdline_opts;

/* Parse argv (argv[0] is the command). 0 to run the command; -1 when it must
 * stop with o->status, the usage (or the handler's message) already printed:
 * on stdout after --help, on stderr after a bad option, a refused argument,
 * a wrong number of operands or a required option missing. */
int cmdline_parse(const cmdline_spec *s, int argc, char **argv, void *ctx, cmdline_opts *o);

/* The usage on stderr; returns SMKEY_EXIT_USAGE, for checks after parsing
 * that the table cannot state (one of two options). */
int cmdline_usage_error(const cmdline_spec *s);

#endif
