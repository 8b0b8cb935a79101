/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * X.509 input and the per-key card listing (sm/x509.h, sm/session.h).
 *
 * First byte % 3:
 *   0  certificate bytes (a file given to import-cert, or CE|id content):
 *      x509_load_cert; what loads must load again to the same DER, describe,
 *      and match its own SubjectPublicKeyInfo (and not a truncated one).
 *   1  a subject in -subj form (NUL-terminated here): x509_parse_subject;
 *      what parses starts with '/' and has at least one attribute.
 *   2  the card: a simulator card (fixed test CA) with key 1 made by a plain
 *      GAKP, as pkcs11-tool makes it; the input decides C4|1 and CE|1:
 *          flags (1 byte)  bit 0: write the PrKD below; bit 1: replace CE|1
 *                          by the rest of the input; bit 2: no CE|1 at all
 *          PrKD length (2 bytes), PrKD bytes
 *          position (2 bytes), mask (1 byte): one byte of the genuine CV
 *                          request flipped (when CE is kept)
 *          rest: CE content
 *      then session_list_objects under SM. The card itself behaves, so the
 *      listing must succeed: one key, the CE kind matching the first tag, a
 *      public key only for a CV request or a certificate, attested only for
 *      a CV request.
 */
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509.h>

#include "fuzz.h"
#include "sim/card.h"
#include "tests/lib/simtransport.h"
#include "sm/apdu.h"
#include "sm/curves.h"
#include "sm/hsm.h"
#include "sm/session.h"
#include "sm/x509.h"

static trust_store trust;
static sim_ca *ca;
static sim_card *card;
static smk_pin_source pin;
static smk_buf genuine_ce;
static char tmp_dir[64], pin_path[4096];

static void remove_tmp(void)
{
	unlink(pin_path);
	rmdir(tmp_dir);
}

static uint16_t plain(const apdu *a)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	uint16_t sw = 0x6F00;
	smk_err e;

	FZ_CHECK(apdu_encode(a, &cmd, &e) == 0);
	FZ_CHECK(sim_card_transmit(card, cmd.data, cmd.len, &resp) == SIM_ANSWERED);
	if (resp.len >= 2)
		sw = (uint16_t)(resp.data[resp.len - 2] << 8 | resp.data[resp.len - 1]);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return sw;
}

static void plain_login(void)
{
	smk_err e;
	apdu a;

	sim_card_reset(card);
	FZ_CHECK(hsm_build_select(&a, 0x0C, &e) == 0 && plain(&a) == 0x9000);
	FZ_CHECK(hsm_build_verify_pin(&a, (const uint8_t *)SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN),
				      &e) == 0 &&
		 plain(&a) == 0x9000);
}

static void plain_delete(uint16_t fid)
{
	smk_buf data = SMK_BUF_INIT;
	smk_err e;
	apdu a;
	uint16_t sw;

	FZ_CHECK(hsm_build_delete_file(&a, &data, fid, &e) == 0);
	sw = plain(&a);
	FZ_CHECK(sw == 0x9000 || sw == 0x6A82);
	smk_buf_free(&data);
}

/* Chunks of 900 bytes, as the session writes; empty content makes an empty EF. */
static void plain_write(uint16_t fid, const uint8_t *p, size_t n)
{
	smk_buf data = SMK_BUF_INIT;
	size_t off = 0, take;
	smk_err e;
	apdu a;

	do {
		take = n - off < 900 ? n - off : 900;
		smk_buf_reset(&data);
		FZ_CHECK(hsm_build_update_binary(&a, &data, fid, off, take ? p + off : p, take,
						 &e) == 0);
		FZ_CHECK(plain(&a) == 0x9000);
		off += take;
	} while (off < n);
	smk_buf_free(&data);
}

static void setup(void)
{
	static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};
	smk_buf root = SMK_BUF_INIT, cmd = SMK_BUF_INIT;
	hsm_keyspec spec;
	char path[4096];
	const uint8_t *r;
	size_t n, len;
	smk_err e;
	apdu a;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fuzz/fixtures/sim-ca", fz_source_dir());
	ca = sim_ca_load(path, &e);
	if (ca == NULL)
		fz_die("simulator CA", &e);
	r = sim_ca_root(ca, &n);
	if (smk_buf_add(&root, r, n) < 0 || trust_add(&trust, root.data, root.len, "sim", &e) < 0)
		fz_die("simulator root", &e);
	smk_buf_free(&root);
	card = sim_card_new();
	if (card == NULL || sim_card_init_pki(card, ca, 7, NULL, &e) < 0 ||
	    sim_card_set_pins(card, (const uint8_t *)SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN),
			      sopin, &e) < 0)
		fz_die("simulator card", &e);

	len = (size_t)snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/smk-fuzz-x509.");
	memset(tmp_dir + len, 'X', 6);
	tmp_dir[len + 6] = '\0';
	if (mkdtemp(tmp_dir) == NULL)
		fz_die("mkdtemp", NULL);
	snprintf(pin_path, sizeof(pin_path), "%s/pin", tmp_dir);
	atexit(remove_tmp);
	f = fopen(pin_path, "w");
	if (f == NULL)
		fz_die(pin_path, NULL);
	fprintf(f, "%s\n", SIM_DEFAULT_PIN);
	fclose(f);
	chmod(pin_path, 0600);
	if (pin_source_file(&pin, pin_path, &e) < 0)
		fz_die("PIN file", &e);

	/* key 1 the way pkcs11-tool makes it: plain GAKP, request left in CE|1 */
	memset(&spec, 0, sizeof(spec));
	spec.type = SMK_KEY_EC;
	spec.curve = curve_by_name("secp256r1");
	snprintf(spec.chr, sizeof(spec.chr), "ZZSIM0000700001");
	plain_login();
	if (hsm_build_gakp(&a, &cmd, 1, 0, &spec, false, &e) < 0)
		fz_die("GAKP", &e);
	FZ_CHECK(plain(&a) == 0x9000);
	smk_buf_free(&cmd);
	if (sim_card_read_ef(card, HSM_FID(HSM_PREFIX_CERT, 1), &genuine_ce) < 0)
		fz_die("CE|1 after GAKP", NULL);
}

static void fuzz_cert(const uint8_t *p, size_t n)
{
	smk_buf der = SMK_BUF_INIT, again = SMK_BUF_INIT;
	uint8_t *in = fz_dup(p, n), *spki = NULL;
	const uint8_t *q;
	x509_info info;
	X509 *x;
	int len;
	smk_err e;

	if (x509_load_cert(in, n, &der, &e) == 0) {
		FZ_CHECK(der.len > 0);
		FZ_CHECK(x509_load_cert(der.data, der.len, &again, &e) == 0);
		FZ_CHECK(again.len == der.len && memcmp(again.data, der.data, der.len) == 0);
		FZ_CHECK(x509_describe(der.data, der.len, &info, &e) == 0);
		FZ_CHECK(strlen(info.fingerprint) == 64);
		q = der.data;
		x = d2i_X509(NULL, &q, (long)der.len);
		FZ_CHECK(x != NULL);
		len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &spki);
		if (len > 0) {
			FZ_CHECK(x509_cert_matches_spki(der.data, der.len, spki, (size_t)len, &e) ==
				 0);
			FZ_CHECK(x509_cert_matches_spki(der.data, der.len, spki, (size_t)len - 1,
							&e) < 0);
			FZ_CHECK(e.code == SMK_E_MISMATCH);
		}
		OPENSSL_free(spki);
		X509_free(x);
	} else {
		FZ_CHECK(der.len == 0);
		(void)x509_describe(in, n, &info, &e);
	}
	free(in);
	smk_buf_free(&der);
	smk_buf_free(&again);
}

static void fuzz_subject(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);
	X509_NAME *name = NULL;
	smk_err e;

	FZ_CHECK(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	if (x509_parse_subject(s, &name, &e) == 0) {
		FZ_CHECK(s[0] == '/');
		FZ_CHECK(X509_NAME_entry_count(name) >= 1);
	} else {
		FZ_CHECK(name == NULL);
		FZ_CHECK(strstr(e.msg, "subject") != NULL);
	}
	X509_NAME_free(name);
	free(s);
}

static void fuzz_card(fz_in *in)
{
	uint8_t flags = fz_u8(in), mask;
	size_t prkd_len, ce_len, pos;
	const uint8_t *prkd = fz_take(in, fz_u16(in), &prkd_len), *ce;
	smk_buf content = SMK_BUF_INIT;
	session_config cfg;
	smk_transport *t;
	smk_session *s;
	session_object *list;
	size_t n;
	smk_err e;

	pos = fz_u16(in);
	mask = fz_u8(in);
	/* within what the session reads of a CE (8192) */
	ce = fz_take(in, 8000, &ce_len);

	plain_login();
	plain_delete(HSM_FID(HSM_PREFIX_PRKD, 1));
	plain_delete(HSM_FID(HSM_PREFIX_CERT, 1));
	if (flags & 1)
		plain_write(HSM_FID(HSM_PREFIX_PRKD, 1), prkd, prkd_len < 1000 ? prkd_len : 1000);
	if (!(flags & 4)) {
		if (flags & 2)
			FZ_CHECK(smk_buf_add(&content, ce, ce_len) == 0);
		else {
			FZ_CHECK(smk_buf_add(&content, genuine_ce.data, genuine_ce.len) == 0);
			content.data[pos % content.len] ^= mask;
		}
		plain_write(HSM_FID(HSM_PREFIX_CERT, 1), content.data, content.len);
	}
	sim_card_reset(card);

	memset(&cfg, 0, sizeof(cfg));
	cfg.trust = &trust;
	cfg.pin = &pin;
	FZ_CHECK(simtransport_new(card, "sim", &t, &e) == 0);
	FZ_CHECK(session_new(t, &cfg, &s, &e) == 0);
	if (session_list_objects(s, &list, &n, &e) != 0) {
		fprintf(stderr, "list objects: %s\n", e.msg);
		FZ_CHECK(0);
	}
	FZ_CHECK(n == 1 && list[0].key_id == 1);
	FZ_CHECK(strlen(list[0].problem) < sizeof(list[0].problem));
	FZ_CHECK(strlen(list[0].label) < sizeof(list[0].label));
	if (flags & 4)
		FZ_CHECK(list[0].ce == SESSION_CE_NONE && list[0].ce_bytes.len == 0);
	else {
		FZ_CHECK(list[0].ce_bytes.len == content.len);
		FZ_CHECK(content.len == 0 ||
			 memcmp(list[0].ce_bytes.data, content.data, content.len) == 0);
		FZ_CHECK((list[0].ce == SESSION_CE_EMPTY) == (content.len == 0));
		if (list[0].ce == SESSION_CE_CVREQ)
			FZ_CHECK(content.data[0] == 0x67);
		if (list[0].ce == SESSION_CE_X509)
			FZ_CHECK(content.data[0] == 0x30);
	}
	if (list[0].spki.len > 0)
		FZ_CHECK(list[0].ce == SESSION_CE_CVREQ || list[0].ce == SESSION_CE_X509);
	if (list[0].ce_attested)
		FZ_CHECK(list[0].ce == SESSION_CE_CVREQ && list[0].spki.len > 0);
	/* the untouched request is attested by this device */
	if (!(flags & 6) && mask == 0)
		FZ_CHECK(list[0].ce_attested);
	session_objects_free(list, n);
	session_free(s);
	smk_buf_free(&content);
	/* nothing of the listing went in plain: only the handshake's SELECT,
	 * READ BINARY 2F02, MSE and GA, and this harness's own commands */
	FZ_CHECK(sim_card_stats(card)->plain_by_ins[0x58] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	fz_in in = {data, size};
	uint8_t mode = fz_u8(&in);

	if (!ready) {
		setup();
		ready = 1;
	}
	switch (mode % 3) {
	case 0:
		fuzz_cert(in.p, in.n);
		break;
	case 1:
		fuzz_subject(in.p, in.n);
		break;
	default:
		fuzz_card(&in);
		break;
	}
	return 0;
}
