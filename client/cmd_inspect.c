/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey inspect --device SERIAL [--json]
 *
 * Every key on a card beside the archive (smkeyd's ListDeviceObjects,
 * admins only): key id, label, type and size, what CE|id holds, whether a
 * committed record has the key, and what to do about keys it lacks; the
 * device's key domains, and for each key what its CV request proves: that
 * the device holds it -- and, on a device that can import keys, that it may
 * have been imported. Generation is never claimed from the request alone.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	(void)name;
	fprintf(f, "usage: smkey inspect --device SERIAL [--json] [--socket PATH]\n"
		   "  the keys on device SERIAL and what the archive knows of each\n");
}

/* "ec secp256r1", "rsa 3072", or "-". */
static void type_text(json_t *o, char *out, size_t n)
{
	json_t *bits = json_object_get(o, "bits");
	const char *type = vlc_str(o, "key_type", NULL), *curve = vlc_str(o, "curve", NULL);

	if (type == NULL)
		snprintf(out, n, "-");
	else if (curve)
		snprintf(out, n, "%s %s", type, curve);
	else if (json_is_integer(bits))
		snprintf(out, n, "%s %lld", type, (long long)json_integer_value(bits));
	else
		snprintf(out, n, "%s", type);
}

/* The key-domain state in one line per domain. */
static void print_domains(json_t *st)
{
	const char *state = vlc_str(st, "state", "?");
	json_t *list = json_object_get(st, "domains"), *d;
	size_t i;

	if (strcmp(state, "unreadable") == 0) {
		printf("key domains: could not be read (%s)\n", vlc_show(st, "reason", "?"));
	} else if (strcmp(state, "reported") != 0) {
		printf("key domains: not reported by the card (SW %s)\n",
		       vlc_show(st, "status", "?"));
	} else {
		printf("key domains: %zu\n", json_array_size(list));
		json_array_foreach(list, i, d)
		{
			const char *kind = vlc_str(d, "kind", "?");
			json_t *tot = json_object_get(d, "shares_total"),
			       *out = json_object_get(d, "shares_outstanding");

			printf("  domain %lld: ",
			       (long long)json_integer_value(json_object_get(d, "index")));
			if (strcmp(kind, "empty") == 0)
				printf("not set up\n");
			else if (strcmp(kind, "xkek") == 0)
				printf("XKEK%s%s\n",
				       json_is_string(json_object_get(d, "kcv")) ? ", KCV " : "",
				       vlc_show(d, "kcv", ""));
			else if (json_integer_value(tot) == 0)
				printf("DKEK, no shares (random: nobody holds it)%s%s\n",
				       json_is_string(json_object_get(d, "kcv")) ? ", KCV " : "",
				       vlc_show(d, "kcv", ""));
			else
				printf(
				    "DKEK, %lld of %lld shares imported%s%s\n",
				    (long long)(json_integer_value(tot) - json_integer_value(out)),
				    (long long)json_integer_value(tot),
				    json_is_string(json_object_get(d, "kcv")) ? ", KCV " : "",
				    vlc_show(d, "kcv", ""));
		}
	}
	if (!json_is_true(json_object_get(st, "may_import")))
		printf("no key domain is set up: this device cannot import keys now\n");
	else if (strcmp(state, "reported") == 0)
		printf("this device can take keys from outside (UNWRAP KEY): a key on it may have "
		       "been imported\n");
	else
		printf("whether this device can take keys from outside is not known: a key on it "
		       "may have been imported\n");
}

/* What the key's CV request proves, and the list its FCP reports. */
static void print_proof(json_t *o)
{
	json_t *algs = json_object_get(o, "card_algorithms"), *a;
	size_t i;

	if (json_is_string(json_object_get(o, "held_by")))
		printf("      CV request proves: held by %s%s\n", vlc_show(o, "held_by", ""),
		       json_is_true(json_object_get(o, "may_have_been_imported"))
			   ? "; may have been imported"
			   : "");
	if (json_is_array(algs)) {
		printf("      card reports algorithms:");
		if (json_array_size(algs) == 0)
			printf(" no list (every algorithm of the key type)");
		json_array_foreach(algs, i, a) printf(" %s", smk_show(json_string_value(a)));
		printf("\n");
	}
	if (json_is_string(json_object_get(o, "card_algorithms_problem")))
		printf("      algorithm list unreadable: %s\n",
		       vlc_show(o, "card_algorithms_problem", ""));
}

static void print_table(const char *device, json_t *objs)
{
	char type[64], rec[48];
	size_t i, unknown = 0;
	json_t *o, *seq;

	printf("device %s: %zu key%s\n", smk_show(device), json_array_size(objs),
	       json_array_size(objs) == 1 ? "" : "s");
	printf("%4s  %-24s  %-18s  %-10s  %-24s  %s\n", "ID", "LABEL", "TYPE", "CE", "ARCHIVE",
	       "USES");
	json_array_foreach(objs, i, o)
	{
		type_text(o, type, sizeof(type));
		seq = json_object_get(o, "record_seq");
		if (json_is_true(json_object_get(o, "archived")) && json_is_integer(seq))
			snprintf(rec, sizeof(rec), "record %lld (%s)",
				 (long long)json_integer_value(seq),
				 vlc_show(o, "record_kind", "?"));
		else
			snprintf(rec, sizeof(rec), "NOT ARCHIVED");
		printf("%4lld  %-24s  %-18s  %-10s  %-24s  ",
		       (long long)json_integer_value(json_object_get(o, "key_id")),
		       vlc_show(o, "label", "-"), smk_show(type), vlc_show(o, "ce", "?"), rec);
		if (json_is_integer(json_object_get(o, "use_counter")))
			printf("%lld\n",
			       (long long)json_integer_value(json_object_get(o, "use_counter")));
		else
			printf("-\n");
		if (json_is_string(json_object_get(o, "certificate_subject")))
			printf("      certificate: %s\n", vlc_show(o, "certificate_subject", ""));
		print_proof(o);
		if (json_is_string(json_object_get(o, "hint")))
			printf("      %s\n", vlc_show(o, "hint", ""));
		if (!json_is_true(json_object_get(o, "archived")))
			unknown++;
	}
	if (unknown)
		printf("%zu key%s not in the archive\n", unknown, unknown == 1 ? "" : "s");
}

static void print_reply(json_t *reply, void *device)
{
	print_table(device, json_object_get(reply, "objects"));
	print_domains(json_object_get(reply, "key_domains"));
}

/* --device SERIAL, kept in a const char * */
static const smk_opt inspect_options[] = {
    {"device", .required = 1},
    {.name = NULL},
};

static const cmdline_spec inspect_spec = {"inspect", CMDLINE_JSON, inspect_options, .usage = usage};

int cmd_inspect(int argc, char **argv)
{
	const char *device = NULL;
	cmdline_opts o;

	if (cmdline_parse(&inspect_spec, argc, argv, &device, &o) < 0)
		return o.status;
	return vlc_call_print("inspect", o.socket, "io.smkeyd.ListDeviceObjects",
			      json_pack("{ss}", "device", device), NULL, o.json, print_reply,
			      (void *)device);
}
