/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card can tell about import and a key's use: the MANAGE KEY
 * DOMAIN status query (ref §2.7) and the algorithm list in the FCP of a key
 * object (ref §2.8). Pure builders and parsers; the session sends them under SM.
 */
#include "hsm.h"

#include <stdio.h>
#include <string.h>

#include "../common/names.h"
#include "tlv.h"

/* clang-format off */
static const char *const domain_kind_names[] = {
	[HSM_DOMAIN_EMPTY] = "empty", [HSM_DOMAIN_DKEK] = "dkek", [HSM_DOMAIN_XKEK] = "xkek",
};
/* clang-format on */
_Static_assert(SMK_NELEM(domain_kind_names) == HSM_DOMAIN_KIND_COUNT, "every kind has a name");

const char *hsm_domain_kind_name(enum hsm_domain_kind k)
{
	return smk_enum_name(domain_kind_names, SMK_NELEM(domain_kind_names), k, "empty");
}

void hsm_build_key_domain_query(apdu *a, uint8_t domain)
{
	/* ref §2.7: P1 00 without data is the status query; P2 the domain */
	*a = (apdu){.cla = 0x80, .ins = 0x52, .p1 = 0x00, .p2 = domain, .ne = APDU_SHORT_MAX_NE};
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

int hsm_parse_key_domain(const uint8_t *data, size_t len, uint16_t sw, uint8_t domain,
			 hsm_key_domain *out, enum hsm_domain_answer *ans, smk_err *e)
{
	char what[64];

	memset(out, 0, sizeof(*out));
	out->index = domain;
	*ans = HSM_DOMAIN_ANSWER_EMPTY;
	snprintf(what, sizeof(what), "MANAGE KEY DOMAIN query of domain %u", domain);
	if (sw != 0x9000 && len != 0)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes of data with SW %04X", what, len,
				sw);
	switch (sw) {
	case 0x9000:
		break;
	case 0x6A88: /* ref §2.7: the domain is not set up */
		return 0;
	case 0x6A86: /* ref §2.7: beyond the configured number of domains */
		*ans = HSM_DOMAIN_ANSWER_BEYOND;
		return 0;
	case 0x6D00:
	case 0x6E00:
		*ans = HSM_DOMAIN_ANSWER_UNSUPPORTED;
		return 0;
	default:
		return sw_fail(e, sw, what);
	}
	/* ref §2.7: total shares, outstanding shares, KCV; an XKEK domain adds
	 * its UID */
	if (len < 10)
		return smk_fail(
		    e, SMK_E_FORMAT,
		    "%s: status of %zu bytes, want 10 (shares, outstanding, KCV) or more", what,
		    len);
	if (len > 10 + HSM_DOMAIN_UID_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: status of %zu bytes, at most %u expected",
				what, len, 10 + HSM_DOMAIN_UID_MAX);
	out->shares_total = data[0];
	out->shares_outstanding = data[1];
	memcpy(out->kcv, data + 2, 8);
	if (len > 10) {
		out->kind = HSM_DOMAIN_XKEK;
		out->has_kcv = !all_zero(out->kcv, 8);
	} else {
		out->kind = HSM_DOMAIN_DKEK;
		if (out->shares_outstanding > out->shares_total)
			return smk_fail(e, SMK_E_FORMAT, "%s: %u shares outstanding of %u in all",
					what, out->shares_outstanding, out->shares_total);
		out->has_kcv = out->shares_outstanding == 0;
	}
	*ans = HSM_DOMAIN_ANSWER_PRESENT;
	return 0;
}

void hsm_domain_state_finish(hsm_domain_state *st)
{
	st->can_import = false;
	for (size_t i = 0; i < st->count && i < HSM_KEY_DOMAINS_MAX; i++)
		if (st->d[i].kind != HSM_DOMAIN_EMPTY)
			st->can_import = true;
}

bool hsm_domain_may_import(const hsm_domain_state *st)
{
	return st->reported ? st->can_import : true;
}

void hsm_build_select_key(apdu *a, uint8_t fid[2], uint8_t key_id)
{
	fid[0] = HSM_PREFIX_KEY;
	fid[1] = key_id;
	/* ref §1.2: SELECT EF by FID, P2 00 with Le: return the FCP */
	*a = (apdu){.cla = 0x00,
		    .ins = 0xA4,
		    .p1 = 0x00,
		    .p2 = 0x00,
		    .data = fid,
		    .lc = 2,
		    .ne = APDU_SHORT_MAX_NE};
}

/* How many of the DOs in p[0..n) (one level) carry tag, the first of them in
 * *first; -1 when the level is malformed. */
static int count_tag(const uint8_t *p, size_t n, uint32_t tag, tlv *first, smk_err *e)
{
	tlv_iter it;
	tlv t;
	int r, seen = 0;

	tlv_iter_init(&it, p, n);
	while ((r = tlv_next(&it, &t, e)) == 1)
		if (t.tag == tag && seen++ == 0)
			*first = t;
	return r < 0 ? -1 : seen;
}

int hsm_parse_key_fcp_algs(const uint8_t *data, size_t len, uint16_t sw, uint8_t key_id,
			   uint8_t algs[SMK_ALG_LIST_MAX], size_t *n, bool *reported, smk_err *e)
{
	char what[48];
	tlv fcp;
	tlv prop = {0}, list = {0};
	int seen;

	*n = 0;
	*reported = false;
	snprintf(what, sizeof(what), "SELECT key %u (FCP)", key_id);
	switch (sw) {
	case 0x9000:
		break;
	case 0x6A82: /* the card does not select key objects like EFs */
	case 0x6A86:
	case 0x6981:
	case 0x6982:
	case 0x6D00:
	case 0x6E00:
		if (len != 0)
			return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes of data with SW %04X", what,
					len, sw);
		return 0;
	default:
		return sw_fail(e, sw, what);
	}
	if (len == 0)
		return 0; /* selected, no FCP: nothing reported */
	if (tlv_parse_exact(data, len, 0x62, &fcp, e) < 0)
		return smk_context(e, "%s", what);
	/* one A5 at most among the FCP's DOs, one 91 at most inside it */
	seen = count_tag(fcp.value, fcp.len, 0xA5, &prop, e);
	if (seen < 0)
		return smk_context(e, "%s", what);
	if (seen > 1)
		return smk_fail(e, SMK_E_FORMAT, "%s: proprietary template A5 appears %d times",
				what, seen);
	if (seen == 0)
		return 0;
	seen = count_tag(prop.value, prop.len, 0x91, &list, e);
	if (seen < 0)
		return smk_context(e, "%s: A5", what);
	if (seen > 1)
		return smk_fail(e, SMK_E_FORMAT, "%s: algorithm list 91 appears %d times", what,
				seen);
	if (seen == 0) {
		/* A5 without 91: the key has no list (unrestricted) */
		*reported = true;
		return 0;
	}
	if (list.len == 0 || list.len > SMK_ALG_LIST_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: algorithm list 91 of %zu bytes, want 1 to %d",
				what, list.len, SMK_ALG_LIST_MAX);
	memcpy(algs, list.value, list.len);
	*n = list.len;
	*reported = true;
	return 0;
}
