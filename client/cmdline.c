/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared option parser of smkey's daemon commands (see cmdline.h): one
 * getopt_long table made of the shared options and the command's own.
 */
#include "cmdline.h"

#include <stdlib.h>
#include <string.h>

#include "varlink_client.h"

enum { OPT_JSON = 256, OPT_SOCKET, OPT_FORCE };

#define MAX_OPTS 24

/* The long and short option tables for s: shared first, then its own. */
static int build(const cmdline_spec *s, struct option *opts, char *shorts, size_t cap)
{
	static const struct option json = {"json", no_argument, NULL, OPT_JSON};
	static const struct option sock = {"socket", required_argument, NULL, OPT_SOCKET};
	static const struct option help = {"help", no_argument, NULL, 'h'};
	static const struct option output = {"output", required_argument, NULL, 'o'};
	static const struct option force = {"force", no_argument, NULL, OPT_FORCE};
	size_t n = 0, i;

	opts[n++] = sock;
	opts[n++] = help;
	if (s->shared & CMDLINE_JSON)
		opts[n++] = json;
	if (s->shared & CMDLINE_OUTPUT) {
		opts[n++] = output;
		opts[n++] = force;
	}
	for (i = 0; s->own && s->own[i].name; i++) {
		if (n + 1 >= MAX_OPTS)
			return -1;
		opts[n++] = s->own[i];
	}
	memset(&opts[n], 0, sizeof(opts[n]));
	if ((size_t)snprintf(shorts, cap, "%s%sh", s->own_short ? s->own_short : "",
			     (s->shared & CMDLINE_OUTPUT) ? "o:" : "") >= cap)
		return -1;
	return 0;
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
	int opt, rc, operands;

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
			break;
		case OPT_SOCKET:
			o->socket = optarg;
			break;
		case OPT_FORCE:
			o->force = 1;
			break;
		case 'h':
			s->usage(stdout, s->name);
			return stop(o, SMKEY_EXIT_OK);
		case '?':
			return stop(o, cmdline_usage_error(s));
		default:
			rc = s->own_fn ? s->own_fn(ctx, opt, optarg) : CMDLINE_BAD;
			if (rc == CMDLINE_SAID)
				return stop(o, SMKEY_EXIT_USAGE);
			if (rc != 0)
				return stop(o, cmdline_usage_error(s));
		}
	}
	operands = argc - optind;
	if (operands < s->min_operands || operands > s->max_operands)
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
