/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card holds per key, against the simulator in-process: CE|id read
 * and classified, an X.509 certificate made in the HSM (sm/x509.h through
 * session_sign) written into CE|id and read back, the per-key listing with
 * labels, types and public keys, refusals, and every one of these commands
 * under secure messaging. Keys made the way pkcs11-tool makes them (plain
 * GAKP, no SM) show up with an authenticated request that verifies against
 * the device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "tests/lib/simtransport.h"
#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/alg.h"
#include "sm/apdu.h"
#include "sm/chain.h"
#include "sm/curves.h"
#include "sm/hsm.h"
#include "sm/pin.h"
#include "sm/prkd.h"
#include "sm/session.h"
#include "sm/x509.h"

static sim_ca *ca;
static sim_card *card;
static trust_store trust;
static smk_pin_source pin_src;
static smk_session *sess;
static char sdir[128];
static FILE *apdu_log;

static void sim_setup(void)
{
	smk_buf root = SMK_BUF_INIT, sopin = SMK_BUF_INIT;
	session_config cfg = {0};
	smk_transport *tp;
	const uint8_t *root_cvc;
	char pin_path[200];
	FILE *f;
	size_t n;
	smk_err e;

	tu_temp_dir(sdir, sizeof(sdir), "smk-objects");
	snprintf(pin_path, sizeof(pin_path), "%s/pin", sdir);
	f = fopen(pin_path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "%s\n", SIM_DEFAULT_PIN);
	fclose(f);
	chmod(pin_path, 0600);
	ck_assert_msg(pin_source_file(&pin_src, pin_path, &e) == 0, "%s", e.msg);

	ca = sim_ca_new(&e);
	ck_assert_msg(ca != NULL, "%s", e.msg);
	card = sim_card_new();
	ck_assert_ptr_nonnull(card);
	ck_assert_msg(sim_card_init_pki(card, ca, 9, NULL, &e) == 0, "%s", e.msg);
	tu_hex(&sopin, SIM_DEFAULT_SOPIN_HEX);
	ck_assert_msg(sim_card_set_pins(card, (const uint8_t *)SIM_DEFAULT_PIN,
					strlen(SIM_DEFAULT_PIN), sopin.data, &e) == 0,
		      "%s", e.msg);
	root_cvc = sim_ca_root(ca, &n);
	ck_assert_int_eq(smk_buf_add(&root, root_cvc, n), 0);
	memset(&trust, 0, sizeof(trust));
	ck_assert_msg(trust_add(&trust, root.data, root.len, "sim root", &e) == 0, "%s", e.msg);
	apdu_log = tmpfile();
	ck_assert_ptr_nonnull(apdu_log);
	sim_card_set_log(card, apdu_log);
	cfg.trust = &trust;
	cfg.pin = &pin_src;
	ck_assert_int_eq(simtransport_new(card, "sim 00", &tp, &e), 0);
	ck_assert_msg(session_new(tp, &cfg, &sess, &e) == 0, "%s", e.msg);
	smk_buf_free(&root);
	smk_buf_free(&sopin);
}

static void sim_teardown(void)
{
	char cmd[200];

	session_free(sess);
	sess = NULL;
	sim_card_set_log(card, NULL);
	fclose(apdu_log);
	sim_card_free(card);
	sim_ca_free(ca);
	trust_free(&trust);
	pin_source_free(&pin_src);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", sdir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Start counting APDUs afresh. */
static void log_restart(void)
{
	fflush(apdu_log);
	ck_assert_int_eq(ftruncate(fileno(apdu_log), 0), 0);
	rewind(apdu_log);
}

/* APDUs of command name cmd since log_restart, plain and under SM; *max_in
 * is the largest command data length seen under SM. */
static void log_count(const char *cmd, unsigned *plain, unsigned *sm, size_t *max_in)
{
	char line[512], want[64];
	const char *in;

	snprintf(want, sizeof(want), "\"cmd\":\"%s\"", cmd);
	*plain = *sm = 0;
	if (max_in)
		*max_in = 0;
	fflush(apdu_log);
	rewind(apdu_log);
	while (fgets(line, sizeof(line), apdu_log)) {
		if (!strstr(line, want))
			continue;
		if (!strstr(line, "\"sm\":true")) {
			(*plain)++;
			continue;
		}
		(*sm)++;
		in = strstr(line, "\"in\":");
		if (max_in && in && (size_t)atol(in + 5) > *max_in)
			*max_in = (size_t)atol(in + 5);
	}
	fseek(apdu_log, 0, SEEK_END);
}

/* Since log_restart, nothing but protected commands reached the card. */
static void assert_all_under_sm(void)
{
	static const char *const cmds[] = {"read",	"update", "delete", "sign",
					   "enumerate", "gakp",	  "verify"};
	unsigned plain, sm, total = 0;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		log_count(cmds[i], &plain, &sm, NULL);
		ck_assert_msg(plain == 0, "%u plain %s commands", plain, cmds[i]);
		total += sm;
	}
	ck_assert_uint_gt(total, 0);
}

static session_key generate(const char *curve_or_rsa, const char *alg, const char *label)
{
	session_keygen g = {0};
	session_key k;
	smk_err e;

	if (strcmp(curve_or_rsa, "RSA") == 0) {
		g.spec.type = SMK_KEY_RSA;
		g.spec.rsa_bits = 2048;
	} else {
		g.spec.type = SMK_KEY_EC;
		g.spec.curve = curve_by_name(curve_or_rsa);
		ck_assert_ptr_nonnull(g.spec.curve);
	}
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZSIMOBJ00001");
	g.spec.algs[g.spec.alg_count++] = alg_by_name(alg)->id;
	g.label = label;
	ck_assert_msg(session_generate(sess, &g, &k, &e) == 0, "%s", e.msg);
	return k;
}

/* x509_signer's callback: the session's SIGN under SM with one key. */
struct card_key {
	uint8_t key_id;
	unsigned calls;
};

static int card_sign(void *ctx, uint8_t alg, const uint8_t *in, size_t n, smk_buf *sig, smk_err *e)
{
	struct card_key *ck = ctx;

	ck->calls++;
	return session_sign(sess, ck->key_id, alg, in, n, sig, e);
}

/* Send one command in plain, as pkcs11-tool through OpenSC does. */
static uint16_t plain(const apdu *a, smk_buf *data)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint16_t sw;
	smk_err e;

	ck_assert_msg(apdu_encode(a, &cmd, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(sim_card_transmit(card, cmd.data, cmd.len, &resp), SIM_ANSWERED);
	ck_assert_uint_ge(resp.len, 2);
	sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	if (data)
		smk_buf_add(data, resp.data, resp.len - 2);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

static void plain_login(void)
{
	apdu a;
	smk_err e;

	ck_assert_int_eq(hsm_build_select(&a, 0x0C, &e), 0);
	ck_assert_uint_eq(plain(&a, NULL), 0x9000);
	ck_assert_int_eq(
	    hsm_build_verify_pin(&a, (const uint8_t *)SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN), &e),
	    0);
	ck_assert_uint_eq(plain(&a, NULL), 0x9000);
}

static void plain_write(uint16_t fid, const uint8_t *p, size_t n)
{
	smk_buf data = SMK_BUF_INIT;
	apdu a;
	smk_err e;

	ck_assert_int_eq(hsm_build_update_binary(&a, &data, fid, 0, p, n, &e), 0);
	ck_assert_uint_eq(plain(&a, NULL), 0x9000);
	smk_buf_free(&data);
}

/* GAKP without SM and without Le (the CV request stays in CE|id), then a
 * PrKD: what `pkcs11-tool --keypairgen` leaves on a card. */
static void plain_keygen(uint8_t key_id, const char *label)
{
	hsm_keyspec spec = {0};
	smk_buf cmd = SMK_BUF_INIT, prkd = SMK_BUF_INIT, req = SMK_BUF_INIT;
	uint8_t id = key_id;
	prkd_key pk = {SMK_KEY_EC, label, &id, 1, 256, NULL, 0};
	apdu a;
	smk_err e;

	spec.type = SMK_KEY_EC;
	spec.curve = curve_by_name("secp256r1");
	snprintf(spec.chr, sizeof(spec.chr), "ZZSIM0000900001");
	ck_assert_msg(hsm_build_gakp(&a, &cmd, key_id, 0, &spec, false, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(plain(&a, &req), 0x9000);
	ck_assert_uint_eq(req.len, 0);
	ck_assert_int_eq(prkd_encode(&prkd, &pk, &e), 0);
	plain_write(HSM_FID(HSM_PREFIX_PRKD, key_id), prkd.data, prkd.len);
	smk_buf_free(&cmd);
	smk_buf_free(&prkd);
	smk_buf_free(&req);
}

START_TEST(read_ce_fresh_key_is_cv_request)
{
	session_key k = generate("secp256r1", "ecdsa-sha256", "release");
	enum session_ce_kind kind;
	smk_buf ce = SMK_BUF_INIT;
	smk_err e;

	log_restart();
	ck_assert_msg(session_read_ce(sess, k.key_id, &kind, &ce, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(kind, SESSION_CE_CVREQ);
	ck_assert_str_eq(session_ce_kind_name(kind), "cv-request");
	ck_assert_uint_eq(ce.len, k.cvreq.len);
	ck_assert_mem_eq(ce.data, k.cvreq.data, ce.len);
	assert_all_under_sm();

	/* a key id without CE|id */
	smk_buf_reset(&ce);
	ck_assert_msg(session_read_ce(sess, 77, &kind, &ce, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(kind, SESSION_CE_NONE);
	ck_assert_uint_eq(ce.len, 0);
	ck_assert_int_eq(session_read_ce(sess, 0, &kind, &ce, &e), -1);
	smk_buf_free(&ce);
	session_key_free(&k);
}
END_TEST

START_TEST(ce_kinds_by_first_tag)
{
	static const struct {
		const char *hex;
		enum session_ce_kind kind;
		const char *name;
	} cases[] = {
	    {"", SESSION_CE_EMPTY, "empty"},
	    {"7F2103420100", SESSION_CE_CVC, "cvc"},
	    {"3003020101", SESSION_CE_X509, "x509"},
	    {"6700", SESSION_CE_CVREQ, "cv-request"},
	    {"0401AA", SESSION_CE_OTHER, "other"},
	    {"30820400AA", SESSION_CE_OTHER, "other"}, /* a 30 that is cut short */
	};
	enum session_ce_kind kind;
	smk_buf ce = SMK_BUF_INIT, bytes = SMK_BUF_INIT;
	smk_err e;
	size_t i;

	plain_login();
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smk_buf_reset(&bytes);
		tu_hex(&bytes, cases[i].hex);
		plain_write(HSM_FID(HSM_PREFIX_CERT, (uint8_t)(10 + i)), bytes.data, bytes.len);
	}
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		smk_buf_reset(&ce);
		smk_buf_reset(&bytes);
		tu_hex(&bytes, cases[i].hex);
		ck_assert_msg(session_read_ce(sess, (uint8_t)(10 + i), &kind, &ce, &e) == 0, "%s",
			      e.msg);
		ck_assert_msg(kind == cases[i].kind, "case %zu: %s", i, session_ce_kind_name(kind));
		ck_assert_str_eq(session_ce_kind_name(kind), cases[i].name);
		ck_assert_uint_eq(ce.len, bytes.len);
		if (ce.len)
			ck_assert_mem_eq(ce.data, bytes.data, ce.len);
	}
	ck_assert_str_eq(session_ce_kind_name(SESSION_CE_NONE), "none");
	smk_buf_free(&ce);
	smk_buf_free(&bytes);
}
END_TEST

/* The whole certificate flow on the card: a self-signed certificate made by
 * the HSM under SM (its TBS needs an extended SIGN), written into CE|id,
 * read back as x509 with the same bytes; the listing then shows the
 * certificate's key, which is the generated key. */
START_TEST(selfsigned_written_and_read_back)
{
	session_key k = generate("secp256r1", "ecdsa-sha256", "apk release");
	struct card_key ck = {k.key_id, 0};
	uint8_t algs[] = {0x73};
	x509_signer s = {card_sign, &ck, k.att.key, algs, 1};
	smk_buf der = SMK_BUF_INIT, ce = SMK_BUF_INIT;
	enum session_ce_kind kind;
	session_object *list;
	size_t n, max_in;
	unsigned plain_n, sm_n;
	smk_err e;

	log_restart();
	ck_assert_msg(x509_make_selfsigned(&s, "/CN=APK release/O=Example Ltd", 9125, time(NULL),
					   &der, NULL, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(ck.calls, 1);
	log_count("sign", &plain_n, &sm_n, &max_in);
	ck_assert_uint_eq(plain_n, 0);
	ck_assert_uint_eq(sm_n, 1);
	ck_assert_uint_gt(max_in, 255); /* extended APDU under SM */

	ck_assert_msg(session_write_cert(sess, k.key_id, der.data, der.len, &e) == 0, "%s", e.msg);
	ck_assert_msg(session_read_ce(sess, k.key_id, &kind, &ce, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(kind, SESSION_CE_X509);
	ck_assert_uint_eq(ce.len, der.len);
	ck_assert_mem_eq(ce.data, der.data, der.len);
	/* what the card holds, independent of the session */
	smk_buf_reset(&ce);
	ck_assert_int_eq(sim_card_read_ef(card, HSM_FID(HSM_PREFIX_CERT, k.key_id), &ce), 0);
	ck_assert_uint_eq(ce.len, der.len);
	ck_assert_mem_eq(ce.data, der.data, der.len);
	ck_assert_int_eq(
	    x509_cert_matches_spki(ce.data, ce.len, k.att.spki.data, k.att.spki.len, &e), 0);

	ck_assert_msg(session_list_objects(sess, &list, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].ce, SESSION_CE_X509);
	ck_assert(!list[0].ce_attested);
	ck_assert_str_eq(list[0].label, "apk release");
	ck_assert_uint_eq(list[0].spki.len, k.att.spki.len);
	ck_assert_mem_eq(list[0].spki.data, k.att.spki.data, k.att.spki.len);
	ck_assert_str_eq(list[0].curve, "secp256r1");
	session_objects_free(list, n);
	assert_all_under_sm();
	smk_buf_free(&der);
	smk_buf_free(&ce);
	session_key_free(&k);
}
END_TEST

/* A CSR for an RSA key whose card list allows only RSA-PSS with SHA-256,
 * signed by the simulated card under SM, passes `openssl req -verify`. */
START_TEST(csr_rsa_pss_through_the_card)
{
	session_key k = generate("RSA", "rsa-pss-sha256", "rsa");
	struct card_key ck = {k.key_id, 0};
	uint8_t algs[] = {0x43};
	x509_signer s = {card_sign, &ck, k.att.key, algs, 1};
	smk_buf pem = SMK_BUF_INIT;
	char path[256], cmd[400], out[512];
	FILE *f;
	size_t got;
	smk_err e;

	log_restart();
	ck_assert_msg(x509_make_csr(&s, "/CN=RSA release/C=DE", &pem, &e) == 0, "%s", e.msg);
	snprintf(path, sizeof(path), "%s/req.pem", sdir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fwrite(pem.data, 1, pem.len, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "openssl req -verify -noout -in %s 2>&1", path);
	f = popen(cmd, "r");
	got = fread(out, 1, sizeof(out) - 1, f);
	out[got] = '\0';
	ck_assert_msg(pclose(f) == 0, "%s", out);
	ck_assert_msg(strstr(out, "verify OK") != NULL, "%s", out);
	assert_all_under_sm();

	/* the card refuses an algorithm outside the key's list: no request */
	algs[0] = 0x33;
	smk_buf_reset(&pem);
	ck_assert_int_eq(x509_make_csr(&s, "/CN=RSA release/C=DE", &pem, &e), -1);
	ck_assert_msg(strstr(e.msg, "6A81") != NULL, "%s", e.msg);
	ck_assert_uint_eq(pem.len, 0);
	smk_buf_free(&pem);
	session_key_free(&k);
}
END_TEST

START_TEST(write_cert_refusals)
{
	session_key k = generate("secp256r1", "ecdsa-sha256", "k");
	struct card_key ck = {k.key_id, 0};
	uint8_t algs[] = {0x73};
	x509_signer s = {card_sign, &ck, k.att.key, algs, 1};
	smk_buf der = SMK_BUF_INIT, big = SMK_BUF_INIT, ce = SMK_BUF_INIT;
	enum session_ce_kind kind;
	unsigned plain_n, sm_n;
	smk_err e;

	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, NULL, &e), 0);
	log_restart();
	/* not a certificate, a certificate with a tail, truncated, empty, too big */
	ck_assert_int_eq(session_write_cert(sess, k.key_id, k.cvreq.data, k.cvreq.len, &e), -1);
	ck_assert_msg(strstr(e.msg, "not an X.509 certificate") != NULL, "%s", e.msg);
	smk_buf_add(&big, der.data, der.len);
	smk_buf_add_byte(&big, 0);
	ck_assert_int_eq(session_write_cert(sess, k.key_id, big.data, big.len, &e), -1);
	ck_assert_msg(strstr(e.msg, "1 bytes after") != NULL, "%s", e.msg);
	ck_assert_int_eq(session_write_cert(sess, k.key_id, der.data, der.len - 1, &e), -1);
	ck_assert_int_eq(session_write_cert(sess, k.key_id, der.data, 0, &e), -1);
	smk_buf_reset(&big);
	ck_assert_int_eq(smk_buf_reserve(&big, SESSION_CERT_MAX + 1), 0);
	memset(big.data, 0x30, SESSION_CERT_MAX + 1);
	big.len = SESSION_CERT_MAX + 1;
	ck_assert_int_eq(session_write_cert(sess, k.key_id, big.data, big.len, &e), -1);
	ck_assert_msg(strstr(e.msg, "at most 4096") != NULL, "%s", e.msg);
	/* none of these reached the card */
	log_count("update", &plain_n, &sm_n, NULL);
	ck_assert_uint_eq(plain_n + sm_n, 0);
	log_count("delete", &plain_n, &sm_n, NULL);
	ck_assert_uint_eq(plain_n + sm_n, 0);

	/* a key id without a key, and the device key */
	ck_assert_int_eq(session_write_cert(sess, 42, der.data, der.len, &e), -1);
	ck_assert_msg(strstr(e.msg, "no key 42") != NULL, "%s", e.msg);
	ck_assert_int_eq(session_write_cert(sess, 0, der.data, der.len, &e), -1);
	ck_assert_int_eq(sim_card_read_ef(card, HSM_FID(HSM_PREFIX_CERT, 42), &ce), -1);

	/* the attestation is still where it was */
	ck_assert_int_eq(session_read_ce(sess, k.key_id, &kind, &ce, &e), 0);
	ck_assert_int_eq(kind, SESSION_CE_CVREQ);
	ck_assert_mem_eq(ce.data, k.cvreq.data, k.cvreq.len);
	smk_buf_free(&der);
	smk_buf_free(&big);
	smk_buf_free(&ce);
	session_key_free(&k);
}
END_TEST

/* A card whose CE does not read back what was written is caught. */
static void corrupt_read(void *ctx, uint8_t ins, smk_buf *answer)
{
	(void)ctx;
	if (ins == 0xB1 && answer->len > 40)
		answer->data[20] ^= 0xFF;
}

START_TEST(write_cert_read_back_mismatch)
{
	session_key k = generate("secp256r1", "ecdsa-sha256", "k");
	struct card_key ck = {k.key_id, 0};
	uint8_t algs[] = {0x73};
	x509_signer s = {card_sign, &ck, k.att.key, algs, 1};
	smk_buf der = SMK_BUF_INIT;
	smk_err e;

	ck_assert_int_eq(x509_make_selfsigned(&s, "/CN=x", 30, time(NULL), &der, NULL, &e), 0);
	sim_card_set_sm_filter(card, corrupt_read, NULL);
	ck_assert_int_eq(session_write_cert(sess, k.key_id, der.data, der.len, &e), -1);
	sim_card_set_sm_filter(card, NULL, NULL);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_msg(strstr(e.msg, "reads back") != NULL, "%s", e.msg);
	smk_buf_free(&der);
	session_key_free(&k);
}
END_TEST

/* Every key: labels and types from the PrKD, CE kinds, the public key of
 * each CV request equal to the generated key's; a pkcs11-tool style key
 * (plain GAKP) has an authenticated request that verifies against this
 * device; a key without PrKD and one with garbage are listed, not fatal. */
START_TEST(list_objects_every_key)
{
	session_key ec, rsa, bare;
	hsm_pin_status st;
	session_object *list;
	size_t n, i;
	smk_buf junk = SMK_BUF_INIT;
	smk_err e;

	plain_login();
	plain_keygen(5, "made by pkcs11-tool");
	tu_hex(&junk, "A0 03 30 01");
	plain_write(HSM_FID(HSM_PREFIX_PRKD, 6), junk.data, junk.len); /* no key 6: not listed */
	ec = generate("brainpoolP256r1", "ecdsa-sha256", "release ec");
	rsa = generate("RSA", "rsa-pkcs1-sha256", "release rsa");
	bare = generate("secp384r1", "ecdsa-sha384", NULL);
	/* another key with a broken PrKD */
	plain_login();
	plain_keygen(9, "to break");
	plain_write(HSM_FID(HSM_PREFIX_PRKD, 9), junk.data, junk.len);
	/* the plain commands ended SM on the card: let the session find out and
	 * run its handshake (READ BINARY 2F02 in plain) before counting */
	ck_assert_msg(session_pin_status(sess, &st, &e) == 0, "%s", e.msg);

	log_restart();
	ck_assert_msg(session_list_objects(sess, &list, &n, &e) == 0, "%s", e.msg);
	assert_all_under_sm();
	ck_assert_uint_eq(n, 5);
	for (i = 1; i < n; i++)
		ck_assert_uint_lt(list[i - 1].key_id, list[i].key_id);

	for (i = 0; i < n; i++) {
		session_object *o = &list[i];
		const session_key *k = o->key_id == ec.key_id	  ? &ec
				       : o->key_id == rsa.key_id  ? &rsa
				       : o->key_id == bare.key_id ? &bare
								  : NULL;

		ck_assert_int_eq(o->ce, SESSION_CE_CVREQ);
		ck_assert(o->ce_attested);
		ck_assert(o->type_known);
		ck_assert(!o->use_counter_known);
		ck_assert_uint_gt(o->spki.len, 0);
		if (k != NULL) {
			ck_assert_uint_eq(o->spki.len, k->att.spki.len);
			ck_assert_mem_eq(o->spki.data, k->att.spki.data, o->spki.len);
			ck_assert_uint_eq(o->ce_bytes.len, k->cvreq.len);
			ck_assert_mem_eq(o->ce_bytes.data, k->cvreq.data, k->cvreq.len);
		}
		if (k == &ec) {
			ck_assert(o->has_prkd);
			ck_assert_str_eq(o->label, "release ec");
			ck_assert_int_eq(o->type, SMK_KEY_EC);
			ck_assert_str_eq(o->curve, "brainpoolP256r1");
			ck_assert_uint_eq(o->bits, 256);
			ck_assert_str_eq(o->problem, "");
		} else if (k == &rsa) {
			ck_assert_str_eq(o->label, "release rsa");
			ck_assert_int_eq(o->type, SMK_KEY_RSA);
			ck_assert_uint_eq(o->bits, 2048);
			ck_assert_str_eq(o->curve, "");
		} else if (k == &bare) {
			ck_assert(!o->has_prkd);
			ck_assert_str_eq(o->label, "");
			ck_assert_str_eq(o->curve, "secp384r1");
			ck_assert_uint_eq(o->bits, 384);
		} else if (o->key_id == 5) {
			ck_assert(o->has_prkd);
			ck_assert_str_eq(o->label, "made by pkcs11-tool");
			ck_assert_str_eq(o->curve, "secp256r1");
			ck_assert_str_eq(o->problem, "");
		} else {
			ck_assert_uint_eq(o->key_id, 9);
			ck_assert(o->has_prkd);
			ck_assert_str_eq(o->label, "");
			ck_assert_msg(strstr(o->problem, "PrKD") != NULL, "%s", o->problem);
			ck_assert_str_eq(o->curve, "secp256r1"); /* from the CE */
		}
	}
	session_objects_free(list, n);
	session_key_free(&ec);
	session_key_free(&rsa);
	session_key_free(&bare);
	smk_buf_free(&junk);
}
END_TEST

/* A CV request that another device signed is listed with its key but not
 * as attested by this device. */
START_TEST(list_objects_foreign_request_not_attested)
{
	session_key k = generate("secp256r1", "ecdsa-sha256", "k");
	smk_buf data = SMK_BUF_INIT;
	session_object *list;
	size_t n;
	apdu a;
	smk_err e;

	/* the same request with one byte of the outer signature changed */
	k.cvreq.data[k.cvreq.len - 5] ^= 0x40;
	plain_login();
	ck_assert_int_eq(hsm_build_delete_file(&a, &data, HSM_FID(HSM_PREFIX_CERT, k.key_id), &e),
			 0);
	ck_assert_uint_eq(plain(&a, NULL), 0x9000);
	smk_buf_free(&data);
	plain_write(HSM_FID(HSM_PREFIX_CERT, k.key_id), k.cvreq.data, k.cvreq.len);
	ck_assert_msg(session_list_objects(sess, &list, &n, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(list[0].ce, SESSION_CE_CVREQ);
	ck_assert(!list[0].ce_attested);
	ck_assert_msg(strstr(list[0].problem, "CV request") != NULL, "%s", list[0].problem);
	/* the key is still shown */
	ck_assert_uint_eq(list[0].spki.len, k.att.spki.len);
	ck_assert_mem_eq(list[0].spki.data, k.att.spki.data, k.att.spki.len);
	session_objects_free(list, n);
	session_key_free(&k);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session_objects");
	TCase *tc = tcase_create("sim");

	tcase_add_checked_fixture(tc, sim_setup, sim_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, read_ce_fresh_key_is_cv_request);
	tcase_add_test(tc, ce_kinds_by_first_tag);
	tcase_add_test(tc, selfsigned_written_and_read_back);
	tcase_add_test(tc, csr_rsa_pss_through_the_card);
	tcase_add_test(tc, write_cert_refusals);
	tcase_add_test(tc, write_cert_read_back_mismatch);
	tcase_add_test(tc, list_objects_every_key);
	tcase_add_test(tc, list_objects_foreign_request_not_attested);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
