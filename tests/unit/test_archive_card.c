/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Record format 2: the "card" member (what the card did and told) of kinds
 * key, archive-key and adopted. Round trip of every fact; the CAR is the
 * CV request's own; a reported list other than the policy's is never
 * archived; the parser refuses unknown, missing, mistyped and inconsistent
 * members naming them; verify and audit say what each fact is worth.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "archive/archive.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "tests/lib/archfix.h"
#include "tests/lib/testutil.h"
#include "sm/cvc.h"

#define ROOT_CHR "UTSRCACRD00001"
#define DICA_CHR "UTDICRD0100001"
#define DEV_CHR "UTCRD10003300000"
#define DEV_SERIAL "UTCRD100033"
#define T0 1795000000 /* 2026-11-18 */

static archfix P;

static const archfix_cfg cfg = {
    .prefix = "smk-card",
    .root_chr = ROOT_CHR,
    .dica_chr = DICA_CHR,
    .dev_chr = DEV_CHR,
    .dev_serial = DEV_SERIAL,
    .dev_until = 2035,
    .req_car = "UTCA00001",
    .peer = {1000, 1000, 4242, "/usr/bin/smkey"},
    .t0 = T0,
    .commit_after = 5,
};

static const char apk_doc[] =
    "{\"alg-list-hex\":\"73\",\"algorithms\":[{\"id\":115,\"name\":\"ecdsa-sha256\"}],"
    "\"name\":\"release-apk\",\"use-counter\":null}";

static void setup(void)
{
	archfix_setup(&P, &cfg);
}

static void teardown(void)
{
	archfix_teardown(&P);
}

static int commit_with(const archive_card_facts *card, uint64_t *seq, smk_err *e)
{
	EVP_PKEY *k = tu_keygen("P-256");
	archfix_key fk;
	int rc;

	archfix_key_init(&P, &fk, ARCHIVE_KIND_KEY, "release-apk", apk_doc, k, "apk");
	fk.key_id = 2;
	fk.card = card;
	rc = archfix_commit_key(&P, &fk, seq, e);
	EVP_PKEY_free(k);
	return rc;
}

static void get_record(uint64_t seq, archive_record *r, smk_buf *canon)
{
	smk_err e;

	smk_buf_reset(canon);
	ck_assert_msg(archive_get(P.a, seq, canon, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_record_parse(canon->data, canon->len, r, &e) == 0, "%s", e.msg);
}

/* a domain state as a card with a DKEK domain (2 shares, 1 outstanding) and
 * an XKEK domain reports it */
static void two_domains(archive_card_facts *f)
{
	f->domains_reported = 1;
	f->domain_count = 3;
	f->domains[0].index = 0;
	f->domains[0].kind = ARCHIVE_DOMAIN_DKEK;
	f->domains[0].shares_total = 2;
	f->domains[0].shares_outstanding = 1;
	f->domains[1].index = 1;
	f->domains[1].kind = ARCHIVE_DOMAIN_XKEK;
	f->domains[1].has_kcv = 1;
	memcpy(f->domains[1].kcv, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	f->domains[2].index = 2;
	f->domains[2].kind = ARCHIVE_DOMAIN_EMPTY;
}

START_TEST(card_facts_round_trip)
{
	archive_card_facts f;
	archive_record r;
	archive_card_text t;
	smk_buf canon = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;

	/* record 0 (made by archfix without facts): GAKP, nothing reported */
	get_record(0, &r, &canon);
	ck_assert_int_eq(r.format, 2);
	ck_assert_int_eq(r.has_card, 1);
	ck_assert_str_eq(r.car, "UTCA00001");
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_GAKP);
	ck_assert_int_eq(r.card.domains_reported, 0);
	ck_assert_int_eq(r.card.algs_reported, 0);
	ck_assert_int_eq(archive_card_can_import(&r.card), -1);
	ck_assert_ptr_nonnull(strstr((char *)canon.data,
				     "\"card\":{\"alg-list\":\"\",\"algorithms\":\"not-reported\","
				     "\"car\":\"UTCA00001\",\"cvreq\":\"gakp\",\"key-domains\":{"
				     "\"domains\":[],\"reported\":false}}"));
	archive_record_free(&r);

	memset(&f, 0, sizeof(f));
	f.cvreq_from = ARCHIVE_CVREQ_RECOVERED;
	two_domains(&f);
	f.algs_reported = 1;
	f.alg_count = 1;
	f.algs[0] = 0x73;
	ck_assert_msg(commit_with(&f, &seq, &e) == 0, "%s", e.msg);
	get_record(seq, &r, &canon);
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_RECOVERED);
	ck_assert_int_eq(r.card.domains_reported, 1);
	ck_assert_uint_eq(r.card.domain_count, 3);
	ck_assert_int_eq(r.card.domains[0].kind, ARCHIVE_DOMAIN_DKEK);
	ck_assert_uint_eq(r.card.domains[0].shares_outstanding, 1);
	ck_assert_int_eq(r.card.domains[1].has_kcv, 1);
	ck_assert_int_eq(memcmp(r.card.domains[1].kcv, "\x01\x02\x03\x04\x05\x06\x07\x08", 8), 0);
	ck_assert_int_eq(r.card.domains[2].kind, ARCHIVE_DOMAIN_EMPTY);
	ck_assert_int_eq(r.card.algs_reported, 1);
	ck_assert_int_eq(archive_card_can_import(&r.card), 1);
	ck_assert_ptr_nonnull(strstr((char *)canon.data, "\"algorithms\":\"confirmed\""));
	archive_card_describe(&r, &t);
	ck_assert_int_eq(t.present, 1);
	ck_assert_int_eq(t.recovered, 1);
	ck_assert_msg(strstr(t.source, "the card confirmed the algorithm list when read back"),
		      "%s", t.source);
	ck_assert_msg(strstr(t.domains, "domain 0 DKEK, 1 of 2 shares imported; domain 1 XKEK, "
					"KCV 0102030405060708; domain 2 not set up (the device can "
					"import keys)"),
		      "%s", t.domains);
	ck_assert_msg(strstr(t.algs, "confirmed: the card reports the policy's list "
				     "(ecdsa-sha256 (0x73))"),
		      "%s", t.algs);
	archive_record_free(&r);
	smk_buf_free(&canon);
}
END_TEST

/* A list the card reports that is not the policy's is never archived
 * under that policy: nothing stored, the intent stays for its failure. */
START_TEST(reported_list_other_than_policy_is_refused)
{
	archive_card_facts f;
	uint64_t seq, size;
	smk_err e;

	memset(&f, 0, sizeof(f));
	f.algs_reported = 1; /* reported, empty: the key is unrestricted */
	ck_assert_int_eq(commit_with(&f, &seq, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_msg(strstr(e.msg, "algorithm list other than the policy's"), "%s", e.msg);
	f.alg_count = 2;
	f.algs[0] = 0x73;
	f.algs[1] = 0x70;
	ck_assert_int_eq(commit_with(&f, &seq, &e), -1);
	ck_assert_int_eq(archive_size(P.a, &size, &e), 0);
	ck_assert_uint_eq(size, 1);
}
END_TEST

/* Adopted records: cvreq "ce", a list the card reports is whatever it is */
START_TEST(adopted_record_card_facts)
{
	EVP_PKEY *k = tu_keygen("P-256");
	smk_buf cvreq = SMK_BUF_INIT, spki = SMK_BUF_INIT, canon = SMK_BUF_INIT;
	archive_card_facts f;
	archive_adopt_req ar;
	archive_record r;
	archive_card_text t;
	char note[512];
	uint64_t seq;
	smk_err e;

	memset(&f, 0, sizeof(f));
	f.cvreq_from = ARCHIVE_CVREQ_GAKP; /* ignored: an adopted request is read from CE */
	two_domains(&f);
	f.algs_reported = 1;
	archfix_gakp(&P, k, "UTPKCS11KEY0001", &cvreq);
	ck_assert_int_eq(cvc_spki_der(k, &spki, &e), 0);
	memset(&ar, 0, sizeof(ar));
	ar.peer = cfg.peer;
	ar.device_serial = DEV_SERIAL;
	ar.devaut_chr = DEV_CHR;
	ar.key_id = 5;
	ar.label = "legacy";
	ar.device_chain = P.chain.data;
	ar.device_chain_len = P.chain.len;
	ar.cvreq = cvreq.data;
	ar.cvreq_len = cvreq.len;
	ar.spki = spki.data;
	ar.spki_len = spki.len;
	ar.time = T0 + 60;
	ar.card = &f;
	ck_assert_msg(archive_adopt(P.a, &P.signer, &ar, &seq, &e) == 0, "%s", e.msg);
	get_record(seq, &r, &canon);
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_CE);
	ck_assert_ptr_nonnull(strstr((char *)canon.data, "\"algorithms\":\"reported\""));
	archive_adopted_note(&r, note, sizeof(note));
	ck_assert_msg(strstr(note, "ADOPTED: held by device " DEV_SERIAL
				   "; may have been imported (the device had a key domain able "
				   "to import)"),
		      "%s", note);
	archive_card_describe(&r, &t);
	ck_assert_msg(strstr(t.algs, "reported by the card: none (the key is unrestricted)"), "%s",
		      t.algs);
	archive_record_free(&r);
	smk_buf_free(&cvreq);
	smk_buf_free(&spki);
	smk_buf_free(&canon);
	EVP_PKEY_free(k);
}
END_TEST

/* One change to the parsed record 1, re-encoded canonically: the parser
 * refuses it and names the member. */
typedef void (*mutate_fn)(json_t *rec);

static void expect_refused(const smk_buf *canon, mutate_fn fn, const char *expect)
{
	json_t *o = json_loadb((const char *)canon->data, canon->len, 0, NULL);
	archive_record r;
	smk_err e;
	char *s;

	ck_assert_ptr_nonnull(o);
	fn(o);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_int_eq(archive_record_parse((const uint8_t *)s, strlen(s), &r, &e), -1);
	ck_assert_msg(strstr(e.msg, expect) != NULL, "want \"%s\" in: %s", expect, e.msg);
	free(s);
	json_decref(o);
}

static json_t *card_of(json_t *rec)
{
	return json_object_get(rec, "card");
}

static json_t *domain0(json_t *rec)
{
	return json_array_get(
	    json_object_get(json_object_get(card_of(rec), "key-domains"), "domains"), 0);
}

static void m_extra(json_t *o)
{
	json_object_set_new(card_of(o), "extra", json_true());
}
static void m_no_car(json_t *o)
{
	json_object_del(card_of(o), "car");
}
static void m_car_other(json_t *o)
{
	json_object_set_new(card_of(o), "car", json_string("XX"));
}
static void m_car_int(json_t *o)
{
	json_object_set_new(card_of(o), "car", json_integer(1));
}
static void m_cvreq_ce(json_t *o)
{
	json_object_set_new(card_of(o), "cvreq", json_string("ce"));
}
static void m_cvreq_bad(json_t *o)
{
	json_object_set_new(card_of(o), "cvreq", json_string("guessed"));
}
static void m_algs_reported(json_t *o)
{
	json_object_set_new(card_of(o), "algorithms", json_string("reported"));
}
static void m_confirmed_empty(json_t *o)
{
	json_object_set_new(card_of(o), "algorithms", json_string("confirmed"));
	json_object_set_new(card_of(o), "alg-list", json_string(""));
}
static void m_not_reported_list(json_t *o)
{
	json_object_set_new(card_of(o), "algorithms", json_string("not-reported"));
}
static void m_domains_unreported(json_t *o)
{
	json_object_set_new(json_object_get(card_of(o), "key-domains"), "reported", json_false());
}
static void m_domains_type(json_t *o)
{
	json_object_set_new(json_object_get(card_of(o), "key-domains"), "domains",
			    json_string("x"));
}
static void m_domain_kind(json_t *o)
{
	json_object_set_new(domain0(o), "kind", json_string("kek"));
}
static void m_domain_kcv(json_t *o)
{
	json_object_set_new(domain0(o), "kcv", json_string("AQI="));
}
static void m_domain_outstanding(json_t *o)
{
	json_object_set_new(domain0(o), "outstanding", json_integer(3));
}
static void m_domain_order(json_t *o)
{
	json_object_set_new(domain0(o), "index", json_integer(1));
}
static void m_domain_extra(json_t *o)
{
	json_object_set_new(domain0(o), "uid", json_string(""));
}
static void m_no_card(json_t *o)
{
	json_object_del(o, "card");
}
static void m_format_1(json_t *o)
{
	json_object_set_new(o, "format", json_integer(1));
}
static void m_format_4(json_t *o)
{
	json_object_set_new(o, "format", json_integer(4));
}

START_TEST(card_member_parser_is_strict)
{
	archive_card_facts f;
	archive_record r;
	smk_buf canon = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;

	memset(&f, 0, sizeof(f));
	two_domains(&f);
	f.algs_reported = 1;
	f.alg_count = 1;
	f.algs[0] = 0x73;
	ck_assert_msg(commit_with(&f, &seq, &e) == 0, "%s", e.msg);
	get_record(seq, &r, &canon);
	archive_record_free(&r);
	expect_refused(&canon, m_extra, "extra");
	expect_refused(&canon, m_no_car, "car");
	expect_refused(&canon, m_car_other, "is not the CV-REQ's");
	expect_refused(&canon, m_car_int, "car");
	expect_refused(&canon, m_cvreq_ce, "cvreq \"ce\" on a record of kind key");
	expect_refused(&canon, m_cvreq_bad, "\"guessed\" is not a known cvreq");
	expect_refused(&canon, m_algs_reported, "algorithms \"reported\" on a record of kind key");
	expect_refused(&canon, m_confirmed_empty, "\"confirmed\" but the list is not the policy's");
	expect_refused(&canon, m_not_reported_list, "alg-list of 1 bytes");
	expect_refused(&canon, m_domains_unreported, "3 domains (reported false");
	expect_refused(&canon, m_domains_type, "\"domains\" is not an array");
	expect_refused(&canon, m_domain_kind, "\"kek\" is not a known kind");
	expect_refused(&canon, m_domain_kcv, "kcv of 2 bytes");
	expect_refused(&canon, m_domain_outstanding, "3 of 2 shares outstanding");
	expect_refused(&canon, m_domain_order, "domain 1 after domain 1");
	expect_refused(&canon, m_domain_extra, "uid");
	expect_refused(&canon, m_no_card, "card");
	/* format 1 has no card member; format 4 does not exist */
	expect_refused(&canon, m_format_1, "card");
	expect_refused(&canon, m_format_4, "format");
	smk_buf_free(&canon);
}
END_TEST

static void m_relayed_false(json_t *o)
{
	json_object_set_new(card_of(o), "relayed", json_false());
}
static void m_relayed_text(json_t *o)
{
	json_object_set_new(card_of(o), "relayed", json_string("true"));
}
static void m_relayed_add(json_t *o)
{
	json_object_set_new(card_of(o), "relayed", json_true());
}

/* The canonical bytes are not NUL-terminated. */
static const void *in_canon(const smk_buf *canon, const char *text)
{
	return memmem(canon->data, canon->len, text, strlen(text));
}

/* Notary mode: "relayed": true when the device is configured as reached
 * through a relay, and no member at all otherwise, so records of devices
 * that are not relayed are byte for byte what they were. */
START_TEST(relayed_member_is_optional)
{
	archive_card_facts f;
	archive_record r;
	smk_buf canon = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;
	json_t *o;
	char *s;

	/* absent: record 0 (archfix, no facts) and a key without the flag */
	get_record(0, &r, &canon);
	ck_assert_int_eq(r.card.relayed, 0);
	ck_assert_ptr_null(in_canon(&canon, "relayed"));
	archive_record_free(&r);
	memset(&f, 0, sizeof(f));
	ck_assert_msg(commit_with(&f, &seq, &e) == 0, "%s", e.msg);
	get_record(seq, &r, &canon);
	ck_assert_int_eq(r.card.relayed, 0);
	ck_assert_ptr_null(in_canon(&canon, "relayed"));
	archive_record_free(&r);
	/* a record without the member still parses when the member is added
	 * by hand (that is a different record: its hash changes) */
	o = json_loadb((const char *)canon.data, canon.len, 0, NULL);
	ck_assert_ptr_nonnull(o);
	m_relayed_add(o);
	s = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
	ck_assert_msg(archive_record_parse((const uint8_t *)s, strlen(s), &r, &e) == 0, "%s",
		      e.msg);
	ck_assert_int_eq(r.card.relayed, 1);
	archive_record_free(&r);
	free(s);
	json_decref(o);

	/* present: written, read back, last member of card (sorted) */
	f.relayed = 1;
	ck_assert_msg(commit_with(&f, &seq, &e) == 0, "%s", e.msg);
	get_record(seq, &r, &canon);
	ck_assert_int_eq(r.card.relayed, 1);
	ck_assert_ptr_nonnull(in_canon(&canon, "\"key-domains\":{\"domains\":[],"
					       "\"reported\":false},\"relayed\":true}"));
	archive_record_free(&r);
	/* one spelling: false or a string is refused, naming the member */
	expect_refused(&canon, m_relayed_false, "\"relayed\" is not true");
	expect_refused(&canon, m_relayed_text, "\"relayed\" is not true");
	expect_refused(&canon, m_extra, "extra");
	smk_buf_free(&canon);
}
END_TEST

static Suite *archive_card_suite(void)
{
	Suite *s = suite_create("archive_card");
	TCase *tc = tcase_create("format 2");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, card_facts_round_trip);
	tcase_add_test(tc, reported_list_other_than_policy_is_refused);
	tcase_add_test(tc, adopted_record_card_facts);
	tcase_add_test(tc, card_member_parser_is_strict);
	tcase_add_test(tc, relayed_member_is_optional);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(archive_card_suite());
}
