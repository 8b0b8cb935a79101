/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey adopt --device SERIAL --key-id N [--label L] [-o BUNDLE] [--json]
 *
 * Archives a key made outside smkeyd while its CV request is still in
 * CE|id (smkeyd's Adopt, admins only), and says plainly what that proves
 * and what it does not: the device made the key; policy, algorithm list and
 * requester are unknown.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmdline.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f, const char *name)
{
	fprintf(f,
		"usage: smkey %s --device SERIAL --key-id N [--label L] [-o BUNDLE [--force]]"
		" [--json] [--socket PATH]\n"
		"  archive key N of device SERIAL, made outside smkeyd, from the CV request\n"
		"  still in its CE|N (see smkey inspect); for root and admin-groups only\n",
		name);
}

struct adopt_args {
	const char *device, *label;
	long key_id;
};

static const smk_opt adopt_options[] = {
    {"device", .offset = offsetof(struct adopt_args, device), .required = 1},
    {"key-id", .kind = SMK_OPT_NUMBER, .offset = offsetof(struct adopt_args, key_id), .required = 1,
     .min = 1, .max = 255},
    {"label", .offset = offsetof(struct adopt_args, label)},
    {.name = NULL},
};

static const cmdline_spec adopt_spec = {"adopt", CMDLINE_JSON | CMDLINE_OUTPUT, adopt_options,
					.usage = usage};

int cmd_adopt(int argc, char **argv)
{
	struct adopt_args a = {NULL, NULL, 0};
	const char *device, *out, *bundle;
	long key_id;
	cmdline_opts o;
	int rc;
	varlink_reply r;
	json_t *params, *msg;

	if (cmdline_parse(&adopt_spec, argc, argv, &a, &o) < 0)
		return o.status;
	device = a.device;
	key_id = a.key_id;
	out = o.output;
	params = json_pack("{sssI}", "device", device, "key_id", (json_int_t)key_id);
	if (a.label)
		json_object_set_new(params, "label", json_string(a.label));
	rc = vlc_simple("adopt", o.socket, "io.smkeyd.Adopt", params, &msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK) {
		fprintf(stderr, "smkey adopt: nothing was archived\n");
		return rc;
	}
	bundle = vlc_str(r.params, "bundle", "");
	if (out)
		rc = vlc_write_output("adopt", out, bundle, strlen(bundle), o.force);
	if (o.json) {
		vlc_print_json(r.params);
	} else {
		printf("adopted key %ld of %s as record %lld (request %s)\n", key_id, device,
		       (long long)json_integer_value(json_object_get(r.params, "seq")),
		       vlc_show(r.params, "request_id", "?"));
		printf("  fingerprint  %s\n", vlc_show(r.params, "fingerprint", "?"));
		printf("  proven:      the key is held by device %s: its CV request in\n"
		       "               CE|%02lX verifies against the device's DevAut key\n",
		       vlc_show(r.params, "held_by", device), key_id);
		if (json_is_true(json_object_get(r.params, "may_have_been_imported")))
			printf(
			    "  imported?    the key may have been imported: the device %s\n"
			    "               takes keys from outside (UNWRAP KEY), and a CV "
			    "request\n"
			    "               does not tell an imported key from one made there\n",
			    strcmp(vlc_str(json_object_get(r.params, "key_domains"), "state", ""),
				   "reported") == 0
				? "has a key domain that"
				: "did not say whether it");
		printf("  not proven:  where the key was made, policy, algorithm list and\n"
		       "               requester (smkeyd did not generate it under secure\n"
		       "               messaging); the record says ADOPTED and names no policy\n");
		if (out && rc == SMKEY_EXIT_OK)
			printf("  bundle       %s\n", out);
	}
	json_decref(msg);
	return rc;
}
