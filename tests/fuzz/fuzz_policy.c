/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Policy files (policy_parse on fuzzed YAML text, policy/): the strict YAML
 * reader, every field check and the canonical document. The file name the
 * parser is given follows the input's own `name:` line, so that real
 * policies get past the name check and the fuzzer explores what follows.
 * A policy that loads is turned into GAKP parameters for a fixed request,
 * which must agree with the policy.
 */
#include "fuzz.h"
#include "policy/policy.h"

/* "NAME.yaml" from the first line starting with "name:", else "fuzz.yaml". */
static void file_name(const uint8_t *p, size_t n, char *out, size_t cap)
{
	size_t i = 0, j, k = 0;
	char name[POLICY_NAME_MAX + 1];

	while (i < n) {
		if (n - i > 5 && memcmp(p + i, "name:", 5) == 0) {
			for (j = i + 5; j < n && (p[j] == ' ' || p[j] == '"' || p[j] == '\''); j++)
				;
			for (; j < n && k < POLICY_NAME_MAX && p[j] > ' ' && p[j] < 0x7F &&
			       p[j] != '"' && p[j] != '\'' && p[j] != '/';
			     j++)
				name[k++] = (char)p[j];
			break;
		}
		while (i < n && p[i] != '\n')
			i++;
		i++;
	}
	name[k] = '\0';
	snprintf(out, cap, "%s.yaml", k ? name : "fuzz");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const gid_t groups[] = {4, 100};
	const policy_peer peer = {0, 0, groups, 2};
	const policy_request req = {"app", "DENK040414400000", 0};
	char file[POLICY_NAME_MAX + 16];
	policy *p = NULL;
	policy_gakp g;
	smk_err e;

	file_name(data, size, file, sizeof(file));
	if (policy_parse(file, data, size, &p, &e) < 0) {
		FZ_CHECK(p == NULL && e.msg[0] != '\0');
		return 0;
	}
	FZ_CHECK(p->name != NULL && p->canonical != NULL);
	FZ_CHECK(strlen(p->canonical) == p->canonical_len);
	FZ_CHECK(p->alg_count >= 1 && p->alg_count <= SMK_ALG_LIST_MAX);
	for (size_t i = 1; i < p->alg_count; i++)
		FZ_CHECK(p->alg_list[i - 1] < p->alg_list[i]);
	(void)policy_authorize(p, &peer, &e);
	(void)policy_device_allowed(p, req.devaut_chr, &e);
	if (policy_gakp_params(p, &req, &g, &e) == 0) {
		FZ_CHECK(g.key_type == p->key_type);
		FZ_CHECK(g.alg_list_len == p->alg_count &&
			 memcmp(g.alg_list, p->alg_list, p->alg_count) == 0);
		FZ_CHECK(g.use_counter == p->use_counter && g.key_domain == p->key_domain);
		FZ_CHECK(memcmp(g.policy_digest, p->digest, sizeof(g.policy_digest)) == 0);
		FZ_CHECK(strlen(g.label) <= POLICY_LABEL_MAX);
	}
	policy_free(p);
	return 0;
}
