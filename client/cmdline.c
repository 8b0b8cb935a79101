/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared option parser of smkey's daemon commands (see cmdline.h): one
 * getopt_long table made of the shared options and the command's own.
 */
#include "cmdline.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "varlink_client.h"

enum { OPT_JSON = 256, OPT_SOCKET, OPT_FORCE, OPT_OWN = 512 };

#define MAX_OPTS 24

/* getopt's value for own option i: its letter, or one past the shared ones */
static int own_val(const cmdline_option *c, size_t i)
{
	return c->letter ? c->letter : OPT_OWN + (int)i;
}

/* The long and short option tables for s: shared first, then its own. */
static int build(const cmdline_spec *s, struct option *opts, char *shorts, size_t cap)
{
	static const struct option json = {"json", no_argument, NULL, OPT_JSON};
	static const struct option sock = {"socket", required_argument, NULL, OPT_SOCKET};
	static const struct option help = {"help", no_argument, NULL, 'h'};
	static const struct option output = {"output", required_argument, NULL, 'o'};
	static const struct option force = {"force", no_argument, NULL, OPT_FORCE};
	const cmdline_option *c;
	size_t n = 0, ns = 0, i;

	opts[n++] = sock;
	opts[n++] = help;
	if (s->shared & CMDLINE_JSON)
		opts[n++] = json;
	if (s->shared & CMDLINE_OUTPUT) {
		opts[n++] = output;
		opts[n++] = force;
		shorts[ns++] = 'o';
		shorts[ns++] = ':';
	}
	for (i = 0; s->own && s->own[i].name; i++) {
		c = &s->own[i];
		if (n + 1 >= MAX_OPTS || ns + 4 >= cap)
			return -1;
		opts[n].name = c->name;
		opts[n].has_arg = c->kind == CMDLINE_FLAG ? no_argument : required_argument;
		opts[n].flag = NULL;
		opts[n++].val = own_val(c, i);
		if (c->letter) {
			shorts[ns++] = c->letter;
			if (c->kind != CMDLINE_FLAG)
				shorts[ns++] = ':';
		}
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	shorts[ns++] = 'h';
	shorts[ns] = '\0';
	return 0;
}

/* Keep own option i's argument as its table says: 0 or CMDLINE_BAD/SAID. */
static int keep(const cmdline_spec *s, size_t i, const char *arg, void *ctx)
{
	const cmdline_option *c = &s->own[i];
	char *field = (char *)ctx + c->offset;

	switch (c->kind) {
	case CMDLINE_STRING:
		*(const char **)(void *)field = arg;
		return 0;
	case CMDLINE_FLAG:
		*(int *)(void *)field = 1;
		return 0;
	case CMDLINE_NUMBER:
		return cmdline_number(s->name, c->name, arg, c->min, c->max, (long *)(void *)field);
	case CMDLINE_OWN:
		return s->own_fn(ctx, i, arg);
	}
	return CMDLINE_BAD;
}

static int stop(cmdline_opts *o, int status)
{
	o->status = status;
	return -1;
}

int cmdline_usage_error(const cmdline_spec *s)
{
	s->usage(stderr, s->name);
	return SMKEY_EXIT_USAGE;
}

int cmdline_parse(const cmdline_spec *s, int argc, char **argv, void *ctx, cmdline_opts *o)
{
	struct option opts[MAX_OPTS];
	char shorts[64];
	unsigned given = 0;
	int opt, rc, operands;
	size_t i;

	memset(o, 0, sizeof(*o));
	if (build(s, opts, shorts, sizeof(shorts)) < 0) {
		fprintf(stderr, "smkey %s: too many options\n", s->name);
		return stop(o, SMKEY_EXIT_USAGE);
	}
	while ((opt = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
		if (opt == 'o' && (s->shared & CMDLINE_OUTPUT)) {
			o->output = optarg;
			continue;
		}
		switch (opt) {
		case OPT_JSON:
			o->json = 1;
			continue;
		case OPT_SOCKET:
			o->socket = optarg;
			continue;
		case OPT_FORCE:
			o->force = 1;
			continue;
		case 'h':
			s->usage(stdout, s->name);
			return stop(o, SMKEY_EXIT_OK);
		case '?':
			return stop(o, cmdline_usage_error(s));
		}
		for (i = 0; s->own && s->own[i].name && own_val(&s->own[i], i) != opt; i++)
			;
		rc = s->own && s->own[i].name ? keep(s, i, optarg, ctx) : CMDLINE_BAD;
		if (rc == CMDLINE_SAID)
			return stop(o, SMKEY_EXIT_USAGE);
		if (rc != 0)
			return stop(o, cmdline_usage_error(s));
		given |= 1u << i;
	}
	operands = argc - optind;
	if (operands < s->min_operands || operands > s->max_operands)
		return stop(o, cmdline_usage_error(s));
	for (i = 0; s->own && s->own[i].name; i++)
		if (s->own[i].required && !(given & (1u << i)))
			return stop(o, cmdline_usage_error(s));
	o->first = optind;
	return 0;
}

int cmdline_number(const char *cmd, const char *option, const char *arg, long min, long max,
		   long *out)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || v < min || v > max) {
		fprintf(stderr, "smkey %s: --%s must be from %ld to %ld\n", cmd, option, min, max);
		return CMDLINE_SAID;
	}
	*out = v;
	return 0;
}
