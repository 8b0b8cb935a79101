/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey policy check [--json] DIR|FILE
 *
 * Validates policies exactly as the daemon loads them and prints, per
 * policy, what the card will be told: the algorithm names and the tag-91
 * bytes, counter, domain and key template. This is the page a reviewer signs
 * off on, so it comes from the same policy_gakp_params() the daemon uses.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "common/hex.h"
#include "common/show.h"
#include "policy/policy.h"
#include "sm/tlv.h"
#include "smkey.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey policy check [--json] DIR|FILE\n"
		   "  validate policy files and show what the card will be told;\n"
		   "  --json prints each canonical policy document instead\n");
}

static void report(void *ctx, const smk_err *e)
{
	(void)ctx;
	fprintf(stderr, "smkey policy: %s\n", smk_show(e->msg));
}

static void hex_spaced(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		printf("%s%02X", i ? " " : "", p[i]);
}

static void print_principals(const char *kind, const char *id, const policy_principal *list,
			     size_t n, int *first)
{
	size_t i;

	if (n == 0)
		return;
	printf("%s %s", *first ? "" : ";", kind);
	for (i = 0; i < n; i++)
		printf("%s %s (%s %u)", i ? "," : "", smk_show(list[i].name), id,
		       (unsigned)list[i].id);
	*first = 0;
}

/* ref §6.2: the DOs that follow the CHR in the GAKP command data, one a line */
static int print_dos(const policy_gakp *g)
{
	const char *lead = "card is told";
	tlv_iter it;
	smk_err e;
	tlv t;
	size_t i;
	int r, pad;

	tlv_iter_init(&it, g->meta, g->meta_len);
	while ((r = tlv_next(&it, &t, &e)) == 1) {
		printf("  %-12s ", lead);
		hex_spaced(t.raw, t.raw_len);
		pad = 3 * (int)t.raw_len - 1 < 22 ? 24 - (3 * (int)t.raw_len - 1) : 2;
		printf("%*s", pad, "");
		if (t.tag == 0x90)
			printf("use counter %u\n", (unsigned)g->use_counter);
		else if (t.tag == 0x92)
			printf("key domain %d\n", g->key_domain);
		else {
			printf("algorithm list:");
			for (i = 0; i < t.len; i++)
				printf(" %s", alg_by_id(t.value[i])->name);
			printf("\n");
		}
		lead = "";
	}
	if (r < 0)
		fprintf(stderr, "smkey policy: %s\n", smk_show(e.msg));
	return r;
}

/* The request the daemon would build for a typical client. */
static int example_gakp(const policy *p, policy_gakp *g, smk_err *e)
{
	policy_request req = {NULL, NULL, 0};

	if (strstr(p->label_template, POLICY_LABEL_PLACEHOLDER))
		req.label = "example";
	if (p->device_count)
		req.devaut_chr = p->devices[0];
	return policy_gakp_params(p, &req, g, e);
}

static int show(const policy *p)
{
	policy_gakp g;
	smk_err e;
	size_t i;
	int first = 1;

	if (example_gakp(p, &g, &e) < 0) {
		fprintf(stderr, "smkey policy: %s\n", smk_show(e.msg));
		return -1;
	}
	printf("policy %s (%s)\n", p->name, smk_show(p->file));
	printf("  description  %s\n", smk_show(p->description));
	if (p->key_type == SMK_KEY_EC)
		printf("  key          ec %s (%u-bit)\n", p->curve->name, p->curve->field_bits);
	else
		printf("  key          rsa %u bits, exponent 65537\n", p->bits);
	for (i = 0; i < p->alg_count; i++)
		printf("  %-12s %02X %-16s %s\n", i ? "" : "algorithms", p->algs[i]->id,
		       p->algs[i]->name, p->algs[i]->summary);
	if (p->use_counter)
		printf("  use-counter  %u operations, then the card refuses\n",
		       (unsigned)p->use_counter);
	else
		printf("  use-counter  none (no limit on operations)\n");
	if (p->key_domain >= 0)
		printf("  key-domain   %d\n", p->key_domain);
	else
		printf("  key-domain   none\n");
	printf("  exportable   %s\n",
	       p->exportable ? "yes, wrapped under the key domain's DKEK" : "no (wrap not listed)");
	printf("  label        %s (e.g. %s)\n", smk_show(p->label_template), smk_show(g.label));
	printf("  allow       ");
	print_principals("users", "uid", p->users, p->user_count, &first);
	print_principals("groups", "gid", p->groups, p->group_count, &first);
	printf("\n");
	if (p->max_keys)
		printf("  max-keys     %u\n", (unsigned)p->max_keys);
	else
		printf("  max-keys     no limit\n");
	printf("  devices     ");
	for (i = 0; i < p->device_count; i++)
		printf(" %s", smk_show(p->devices[i]));
	printf("%s\n", p->device_count ? "" : " any");
	printf("  inner CAR    %s%s\n", g.spec.car, p->car ? "" : " (default)");
	/* ref §6.2: the DOs that follow the CHR in the GAKP command data */
	if (print_dos(&g) < 0)
		return -1;
	printf("  key template 7F49, %zu bytes, %s\n", g.key_template_len,
	       p->key_type == SMK_KEY_EC ? "id-TA-ECDSA-SHA-256 with explicit curve parameters"
					 : "id-TA-RSA-v1-5-SHA-256, exponent and modulus size");
	printf("  digest       sha256:%s\n\n", p->digest_hex);
	return 0;
}

static int print_one(const policy *p, int json)
{
	if (json) {
		printf("%s\n", p->canonical);
		return 0;
	}
	return show(p);
}

static int check(const char *path, int json)
{
	policy_set *set = NULL;
	policy *one = NULL;
	struct stat st;
	smk_err e;
	size_t i;
	int rc = 0;

	if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
		if (policy_load_file(path, &one, &e) < 0) {
			report(NULL, &e);
			return 1;
		}
		rc = print_one(one, json);
		policy_free(one);
		return rc < 0 ? 1 : 0;
	}
	if (policy_set_load(path, &set, report, NULL, &e) < 0) {
		/* report() has shown every error already */
		if (e.code == SMK_E_IO)
			return 2;
		fprintf(stderr, "smkey policy: %s: not valid, the daemon would refuse to load it\n",
			path);
		return 1;
	}
	if (!json)
		printf("%s: %zu policies, all valid\n\n", path, policy_set_count(set));
	for (i = 0; i < policy_set_count(set); i++)
		if (print_one(policy_set_at(set, i), json) < 0)
			rc = 1;
	policy_set_unref(set);
	return rc;
}

int cmd_policy(int argc, char **argv)
{
	int json = 0, i = 2;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3 || strcmp(argv[1], "check") != 0) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[i], "--json") == 0) {
		json = 1;
		i++;
	}
	if (i != argc - 1) {
		usage(stderr);
		return 2;
	}
	return check(argv[i], json);
}
