/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive as smkeyd serves it:
 *
 *   smkey list [--policy NAME] [--since SEQ] [--limit N] [--json]
 *   smkey show [--json] ID
 *   smkey bundle [-o FILE [--force]] ID
 *
 * ID is a record's sequence number or its request id. Every command also
 * takes --socket PATH.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

/* {"seq": N} for a number, {"request_id": ID} otherwise. */
static json_t *record_id(const char *id)
{
	long long seq = vlc_number(id);

	return seq >= 0 ? json_pack("{sI}", "seq", (json_int_t)seq)
			: json_pack("{ss}", "request_id", id);
}

struct list_args {
	const char *policy;
	long long since, limit; /* -1: not given */
};

/* --since SEQ and --limit N: a number >= 0, or the usage */
static int list_number(void *ctx, const smk_opt *opt, const char *arg)
{
	long long *v = smk_opt_field(ctx, opt);

	*v = vlc_number(arg);
	return *v < 0 ? SMK_OPTS_BAD : 0;
}

static const smk_opt list_options[] = {
    {"policy", .offset = offsetof(struct list_args, policy)},
    {"since", .kind = SMK_OPT_OWN, .offset = offsetof(struct list_args, since)},
    {"limit", .kind = SMK_OPT_OWN, .offset = offsetof(struct list_args, limit)},
    {.name = NULL},
};

static void list_usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey list [--policy NAME] [--since SEQ] [--limit N] [--json]"
		   " [--socket PATH]\n"
		   "  the archive's records, oldest first\n");
}

static const char *or_dash(json_t *obj, const char *key)
{
	return vlc_show(obj, key, "-");
}

static void print_records(json_t *recs, void *ctx)
{
	json_t *rec;
	size_t i;

	(void)ctx;
	printf("%6s  %-20s  %-11s  %-16s  %-24s  %-12s  %s\n", "SEQ", "TIME", "KIND", "POLICY",
	       "LABEL", "DEVICE", "KEY");
	json_array_foreach(recs, i, rec)
	{
		json_t *key = json_object_get(rec, "key_id");

		printf("%6lld  %-20s  %-11s  %-16s  %-24s  %-12s  ",
		       (long long)json_integer_value(json_object_get(rec, "seq")),
		       or_dash(rec, "time"), or_dash(rec, "kind"), or_dash(rec, "policy"),
		       or_dash(rec, "label"), or_dash(rec, "device"));
		if (json_is_integer(key))
			printf("%lld\n", (long long)json_integer_value(key));
		else
			printf("-\n");
	}
	if (json_array_size(recs) == 0)
		printf("(no records)\n");
}

int cmd_list(int argc, char **argv)
{
	const cmdline_spec spec = {"list", CMDLINE_JSON, list_options, list_number, 0,
				   0,	   list_usage};
	struct list_args a = {NULL, -1, -1};
	json_t *params;
	cmdline_opts o;

	if (cmdline_parse(&spec, argc, argv, &a, &o) < 0)
		return o.status;
	params = json_object();
	if (a.policy)
		json_object_set_new(params, "policy", json_string(a.policy));
	if (a.since >= 0)
		json_object_set_new(params, "since", json_integer(a.since));
	if (a.limit >= 0)
		json_object_set_new(params, "limit", json_integer(a.limit));
	return vlc_call_print("list", o.socket, "io.smkeyd.ListRecords", params, "records", o.json,
			      print_records, NULL);
}

static void show_usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey show [--json] [--socket PATH] SEQ|REQUEST-ID\n"
		   "  one archive record in full\n");
}

static void print_record(json_t *rec, void *ctx)
{
	static const char *const fields[] = {
	    "request_id", "kind",   "time",	   "policy", "policy_digest", "label",
	    "device",	  "key_id", "fingerprint", "reason", "cvreq",	      NULL,
	};
	json_t *v;
	size_t i;

	(void)ctx;
	printf("record %lld\n", (long long)json_integer_value(json_object_get(rec, "seq")));
	for (i = 0; fields[i]; i++) {
		v = json_object_get(rec, fields[i]);
		if (json_is_string(v))
			printf("  %-14s %s\n", fields[i], smk_show(json_string_value(v)));
		else if (json_is_integer(v))
			printf("  %-14s %lld\n", fields[i], (long long)json_integer_value(v));
	}
	if (json_is_string(json_object_get(rec, "public_key_pem")))
		printf("%s", json_string_value(json_object_get(rec, "public_key_pem")));
}

int cmd_show(int argc, char **argv)
{
	const cmdline_spec spec = {"show", CMDLINE_JSON, NULL, NULL, 1, 1, show_usage};
	cmdline_opts o;

	if (cmdline_parse(&spec, argc, argv, NULL, &o) < 0)
		return o.status;
	return vlc_call_print("show", o.socket, "io.smkeyd.GetRecord", record_id(argv[o.first]),
			      "record", o.json, print_record, NULL);
}

static void bundle_usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey bundle [-o FILE [--force]] [--socket PATH] SEQ|REQUEST-ID\n"
		   "  the record's self-contained verification bundle (for smkey verify);\n"
		   "  to standard output unless -o names a new file\n");
}

int cmd_bundle(int argc, char **argv)
{
	/* --json is accepted and changes nothing: the bundle is JSON */
	const cmdline_spec spec = {"bundle",	CMDLINE_JSON | CMDLINE_OUTPUT, NULL, NULL, 1, 1,
				   bundle_usage};
	cmdline_opts o;
	varlink_reply r;
	json_t *msg, *params;
	const char *bundle;
	int rc;

	if (cmdline_parse(&spec, argc, argv, NULL, &o) < 0)
		return o.status;
	params = record_id(argv[o.first]);
	rc = vlc_simple("bundle", o.socket, "io.smkeyd.GetBundle", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	bundle = vlc_str(r.params, "bundle", "");
	rc = vlc_write_output("bundle", o.output, bundle, strlen(bundle), o.force);
	json_decref(msg);
	return rc;
}
