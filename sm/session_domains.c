/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card says about import and about a key's algorithm list: the
 * key-domain status (MANAGE KEY DOMAIN query for each domain) and the FCP of
 * a key object. Both run through session_run_op and only under secure
 * messaging, like every operation.
 */
#include "session_int.h"

#include <string.h>

static int do_key_domains(smk_session *s, void *arg, smk_err *e)
{
	hsm_domain_state *st = arg;
	smk_buf data = SMK_BUF_INIT;
	enum hsm_domain_answer ans;
	hsm_key_domain d;
	uint16_t sw;
	apdu a;
	int r = 0;

	memset(st, 0, sizeof(*st));
	for (unsigned i = 0; i < HSM_KEY_DOMAINS_MAX; i++) {
		smk_buf_reset(&data);
		hsm_build_key_domain_query(&a, (uint8_t)i);
		r = session_send_sm(s, &a, session_apdu_timeout(s), "MANAGE KEY DOMAIN", &data, &sw,
				    e);
		if (r == 0)
			r = hsm_parse_key_domain(data.data, data.len, sw, (uint8_t)i, &d, &ans, e);
		if (r < 0)
			break;
		if (i == 0)
			st->sw0 = sw;
		if (ans == HSM_DOMAIN_ANSWER_UNSUPPORTED && i > 0) {
			/* the card answered for domain 0 and then denies the command */
			r = smk_fail(e, SMK_E_FORMAT,
				     "MANAGE KEY DOMAIN query of domain %u: SW %04X after domain 0 "
				     "answered",
				     i, sw);
			break;
		}
		if (ans == HSM_DOMAIN_ANSWER_BEYOND || ans == HSM_DOMAIN_ANSWER_UNSUPPORTED)
			break;
		st->d[st->count++] = d;
	}
	smk_buf_free(&data);
	if (r < 0) {
		memset(st, 0, sizeof(*st));
		return -1;
	}
	st->reported = st->count > 0;
	hsm_domain_state_finish(st);
	return 0;
}

int session_key_domains(smk_session *s, hsm_domain_state *out, smk_err *e)
{
	hsm_domain_state st;

	memset(out, 0, sizeof(*out));
	if (session_run_op(s, "key domains", do_key_domains, &st, e) < 0)
		return -1;
	*out = st;
	return 0;
}

struct algs_arg {
	uint8_t key_id;
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t n;
	bool reported;
};

static int do_key_algs(smk_session *s, void *arg, smk_err *e)
{
	struct algs_arg *aa = arg;
	smk_buf data = SMK_BUF_INIT;
	uint8_t fid[2];
	uint16_t sw;
	apdu a;
	int r;

	hsm_build_select_key(&a, fid, aa->key_id);
	r = session_send_sm(s, &a, session_apdu_timeout(s), "SELECT", &data, &sw, e);
	if (r == 0)
		r = hsm_parse_key_fcp_algs(data.data, data.len, sw, aa->key_id, aa->algs, &aa->n,
					   &aa->reported, e);
	smk_buf_free(&data);
	return r;
}

int session_key_algs(smk_session *s, uint8_t key_id, uint8_t algs[SMK_ALG_LIST_MAX], size_t *n,
		     bool *reported, smk_err *e)
{
	struct algs_arg aa;

	memset(&aa, 0, sizeof(aa));
	aa.key_id = key_id;
	*n = 0;
	*reported = false;
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "key algorithms: key 0 is the device key");
	if (session_run_op(s, "key algorithms", do_key_algs, &aa, e) < 0)
		return smk_context(e, "key %u", key_id);
	memcpy(algs, aa.algs, aa.n);
	*n = aa.n;
	*reported = aa.reported;
	return 0;
}
