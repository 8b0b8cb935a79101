/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What smkeyd offers and how it is doing:
 *
 *   smkey policies [--json]    the policies, and whether this user may use each
 *   smkey devices [--json]     the HSMs, their state and queues
 *   smkey checkpoint [--json]  the archive's signed checkpoint (C2SP text)
 *
 * Every command also takes --socket PATH.
 */
#include <stdio.h>
#include <string.h>

#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	fprintf(f, "usage: smkey %s [--json] [--socket PATH]\n", name);
}

/* Run cmd's one call (--json and --socket, nothing else) and print the
 * reply's member key. */
static int query(const char *cmd, int argc, char **argv, const char *method, const char *key,
		 void (*text)(json_t *v, void *ctx))
{
	const cmdline_spec spec = {cmd, CMDLINE_JSON, NULL, NULL, 0, 0, usage};
	cmdline_opts o;

	if (cmdline_parse(&spec, argc, argv, NULL, &o) < 0)
		return o.status;
	return vlc_call_print(cmd, o.socket, method, NULL, key, o.json, text, NULL);
}

static void print_policies(json_t *list, void *ctx)
{
	json_t *p, *v;
	size_t i, k;

	(void)ctx;
	json_array_foreach(list, i, p)
	{
		printf("%s%s\n", vlc_show(p, "name", "?"),
		       json_is_true(json_object_get(p, "allowed")) ? ""
								   : "  (not allowed for you)");
		printf("  %-12s %s\n", "description", vlc_show(p, "description", ""));
		printf("  %-12s %s", "key", vlc_show(p, "key_type", "?"));
		if (json_is_string(json_object_get(p, "curve")))
			printf(" %s", vlc_show(p, "curve", ""));
		if (json_is_integer(json_object_get(p, "bits")))
			printf(" %lld bits",
			       (long long)json_integer_value(json_object_get(p, "bits")));
		printf("\n  %-12s", "algorithms");
		json_array_foreach(json_object_get(p, "algorithms"), k, v)
		    printf(" %s", json_string_value(v) ? smk_show(json_string_value(v)) : "?");
		printf(" (tag 91: %s)\n", vlc_show(p, "alg_list_hex", "?"));
		if (json_is_integer(json_object_get(p, "use_counter")))
			printf("  %-12s %lld\n", "use counter",
			       (long long)json_integer_value(json_object_get(p, "use_counter")));
		if (json_is_integer(json_object_get(p, "key_domain")))
			printf("  %-12s %lld\n", "key domain",
			       (long long)json_integer_value(json_object_get(p, "key_domain")));
		printf("  %-12s %s\n", "exportable",
		       json_is_true(json_object_get(p, "exportable")) ? "yes" : "no");
		printf("  %-12s %s\n", "label", vlc_show(p, "label_template", "?"));
		printf("  %-12s %s\n", "digest", vlc_show(p, "digest", "?"));
	}
	if (json_array_size(list) == 0)
		printf("(no policies)\n");
}

int cmd_policies(int argc, char **argv)
{
	return query("policies", argc, argv, "io.smkeyd.ListPolicies", "policies", print_policies);
}

static void print_devices(json_t *list, void *ctx)
{
	json_t *d;
	size_t i;

	(void)ctx;
	printf("%-16s  %-5s  %6s  %-16s  %s\n", "SERIAL", "STATE", "QUEUED", "DEVAUT", "READER");
	json_array_foreach(list, i, d)
	{
		printf("%-16s  %-5s  %6lld  %-16s  %s\n", vlc_show(d, "serial", "?"),
		       vlc_show(d, "state", "?"),
		       (long long)json_integer_value(json_object_get(d, "queued")),
		       vlc_show(d, "devaut_chr", "?"), vlc_show(d, "reader", "?"));
		if (json_is_string(json_object_get(d, "last_error")))
			printf("  last error: %s\n", vlc_show(d, "last_error", ""));
	}
	if (json_array_size(list) == 0)
		printf("(no devices)\n");
}

int cmd_devices(int argc, char **argv)
{
	return query("devices", argc, argv, "io.smkeyd.ListDevices", "devices", print_devices);
}

static void print_checkpoint(json_t *cp, void *ctx)
{
	(void)ctx;
	fputs(vlc_str(cp, "text", ""), stdout);
}

int cmd_checkpoint(int argc, char **argv)
{
	return query("checkpoint", argc, argv, "io.smkeyd.GetCheckpoint", "checkpoint",
		     print_checkpoint);
}
