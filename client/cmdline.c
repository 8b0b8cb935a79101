/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shared option parser of smkey's daemon commands (see cmdline.h): the
 * shared options are tables of their own, parsed with the command's table
 * by common/opts.h.
 */
#include "cmdline.h"

#include <stddef.h>
#include <string.h>

#include "varlink_client.h"

/* --socket and --help, which every command takes */
static const smk_opt always_opts[] = {
    {"socket", .offset = offsetof(cmdline_opts, socket)},
    {"help", 'h', .kind = SMK_OPT_STOP, .offset = offsetof(cmdline_opts, help)},
    {.name = NULL},
};

static const smk_opt json_opts[] = {
    {"json", .kind = SMK_OPT_FLAG, .offset = offsetof(cmdline_opts, json)},
    {.name = NULL},
};

static const smk_opt output_opts[] = {
    {"output", 'o', .offset = offsetof(cmdline_opts, output)},
    {"force", .kind = SMK_OPT_FLAG, .offset = offsetof(cmdline_opts, force)},
    {.name = NULL},
};

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
	smk_opt_group groups[4];
	size_t n = 0;
	char prog[64];
	int rc, operands;

	memset(o, 0, sizeof(*o));
	groups[n++] = (smk_opt_group){always_opts, o, NULL};
	if (s->shared & CMDLINE_JSON)
		groups[n++] = (smk_opt_group){json_opts, o, NULL};
	if (s->shared & CMDLINE_OUTPUT)
		groups[n++] = (smk_opt_group){output_opts, o, NULL};
	groups[n++] = (smk_opt_group){s->own, ctx, s->own_fn};
	snprintf(prog, sizeof(prog), "smkey %s", s->name);
	rc = smk_opts_parse(prog, groups, n, argc, argv, &o->first);
	if (rc == SMK_OPTS_STOPPED) {
		s->usage(stdout, s->name);
		return stop(o, SMKEY_EXIT_OK);
	}
	if (rc == SMK_OPTS_SAID)
		return stop(o, SMKEY_EXIT_USAGE);
	if (rc < 0)
		return stop(o, cmdline_usage_error(s));
	operands = argc - o->first;
	if (operands < s->min_operands || operands > s->max_operands)
		return stop(o, cmdline_usage_error(s));
	return 0;
}
