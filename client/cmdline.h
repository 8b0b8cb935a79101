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

#include <stddef.h>
#include <stdio.h>

/* Which shared options a command takes besides --socket and --help. */
#define CMDLINE_JSON 0x1   /* --json */
#define CMDLINE_OUTPUT 0x2 /* -o/--output FILE and --force */

/* What a command's own option handler returns when it refuses an argument. */
#define CMDLINE_BAD (-1)  /* print the usage */
#define CMDLINE_SAID (-2) /* the handler said why; no usage */

/* How a command's own option keeps its argument, in the command's own
 * arguments (the ctx of cmdline_parse), at the option's offset. */
enum cmdline_kind {
	CMDLINE_STRING, /* const char *: the argument */
	CMDLINE_FLAG,	/* int: 1; takes no argument */
	CMDLINE_NUMBER, /* long: the argument, a decimal number from min to max (cmdline_number) */
	CMDLINE_OWN,	/* the command's own_fn(ctx, index of the option, argument) */
};

typedef struct cmdline_option {
	const char *name;	/* "device": --device */
	char letter;		/* 'd': -d too; 0: the long name only */
	enum cmdline_kind kind; /* how its argument is kept */
	size_t offset;		/* offsetof(the command's arguments, the field) */
	int required;		/* without it, the usage on stderr */
	long min, max;		/* CMDLINE_NUMBER: the range */
} cmdline_option;

typedef struct cmdline_spec {
	const char *name;	   /* "adopt": the command, for its usage */
	unsigned shared;	   /* CMDLINE_* */
	const cmdline_option *own; /* its own options, ending in {NULL}, or NULL; no
				      letter may be 'h', nor 'o' with CMDLINE_OUTPUT */
	/* for its CMDLINE_OWN options: 0 or CMDLINE_BAD/SAID */
	int (*own_fn)(void *ctx, size_t option, const char *arg);
	int min_operands, max_operands;
	void (*usage)(FILE *f, const char *name);
} cmdline_spec;

typedef struct cmdline_opts {
	const char *socket; /* --socket PATH, or NULL */
	const char *output; /* -o/--output FILE, or NULL */
	int json;	    /* --json given */
	int force;	    /* --force given: an existing output file is replaced */
	int first;	    /* the operands are argv[first..argc) */
	int status;	    /* after -1: the exit status (0 after --help) */
} cmdline_opts;

/* Parse argv (argv[0] is the command). 0 to run the command; -1 when it must
 * stop with o->status, the usage (or the handler's message) already printed:
 * on stdout after --help, on stderr after a bad option, a refused argument,
 * a wrong number of operands or a required option missing. */
int cmdline_parse(const cmdline_spec *s, int argc, char **argv, void *ctx, cmdline_opts *o);

/* For an own option's handler: arg as a decimal number from min to max into
 * *out, 0; otherwise "smkey CMD: --OPTION must be from MIN to MAX" on stderr
 * and CMDLINE_SAID. */
int cmdline_number(const char *cmd, const char *option, const char *arg, long min, long max,
		   long *out);

/* The usage on stderr; returns SMKEY_EXIT_USAGE, for checks after parsing
 * that the table cannot state (one of two options). */
int cmdline_usage_error(const cmdline_spec *s);

#endif
