/*
 * The card session: handshake, the protected command path, recovery, and
 * the operations the daemon needs. Commands are built and parsed by hsm.h,
 * the device chain and requests checked by chain.h, chip authentication and
 * SM done by ca.h / smsg.h; this file only decides what is sent when, and
 * what happens when something fails.
 */
#include "session.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "apdu.h"
#include "ca.h"
#include "pcsc.h"
#include "prkd.h"
#include "smsg.h"

/* EF 2F02 holds two certificates of ~230 bytes each (ref §2.1); anything
 * far beyond is not a device chain. */
#define DEVAUT_MAX 4096
/* A CE|id holds one authenticated request or certificate. */
#define CE_MAX 8192
/* Command data per UPDATE BINARY under SM: well inside the smallest
 * extended APDU limit recorded for SmartCard-HSMs (1014, ref §1.4) once the
 * SM overhead (padding, DO87/DO8E, Le) is added. */
#define WRITE_CHUNK_DATA 900

struct smk_session {
	smk_transport *t;
	session_config cfg;
	bool up;	 /* SM established (and PIN verified when configured) */
	bool need_reset; /* reset the card before the next handshake */
	smsg_ctx *sm;
	bool have_chain;
	devaut_chain chain;
	hsm_fcp fcp;
	unsigned opens;
	/* per operation: commands the card answered, and whether the failure
	 * happened before the card executed anything of it */
	unsigned op_cmds;
	bool op_unseen;
	/* the last PIN the card refused, so it is not offered again */
	bool pin_refused;
	uint8_t refused_hash[32];
	unsigned refused_tries;
};

static const char *card_name(const smk_session *s)
{
	if (s->have_chain)
		return s->chain.serial;
	return transport_name(s->t);
}

static unsigned apdu_timeout(const smk_session *s)
{
	return s->cfg.apdu_timeout_ms ? s->cfg.apdu_timeout_ms : SESSION_APDU_TIMEOUT_MS;
}

static unsigned keygen_timeout(const smk_session *s)
{
	return s->cfg.keygen_timeout_ms ? s->cfg.keygen_timeout_ms : SESSION_KEYGEN_TIMEOUT_MS;
}

/* Forget everything the card held for us; the next operation re-opens. */
static void session_down(smk_session *s)
{
	smsg_free(s->sm);
	s->sm = NULL;
	s->up = false;
	s->need_reset = true;
}

/* Plain transmit for the handshake only (SELECT, READ 2F02, MSE, GA).
 * Refuses while SM is up: a plain APDU would end SM on genuine firmware and
 * must never carry an operation. */
static int send_plain(smk_session *s, const apdu *a, const char *what, smk_buf *data, uint16_t *sw,
		      smk_err *e)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	rapdu r;
	int ret = -1;

	if (s->up || s->sm != NULL)
		return smk_fail(e, SMK_E_ARG, "%s: plain command refused while SM is up", what);
	if (apdu_encode(a, &cmd, e) < 0 ||
	    transport_transmit(s->t, cmd.data, cmd.len, &resp, apdu_timeout(s), e) < 0 ||
	    rapdu_parse(resp.data, resp.len, &r, e) < 0)
		goto out;
	if (smk_buf_add(data, r.data, r.len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	*sw = r.sw;
	ret = 0;
out:
	if (ret < 0)
		smk_context(e, "%s", what);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return ret;
}

/* The one way an operation's command reaches the card: protected, the
 * answer unprotected; *sw is the card's status word from DO99. Transport
 * and SM failures take the session down. */
static int send_sm(smk_session *s, const apdu *plain, unsigned timeout_ms, const char *what,
		   smk_buf *data, uint16_t *sw, smk_err *e)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	int ret = -1;

	cmd.secret = 1; /* the plain PIN passes through the wrapper's input only, but be safe */
	if (!s->up || s->sm == NULL || !smsg_usable(s->sm)) {
		smk_fail(e, SMK_E_SM, "no secure messaging session");
		goto out;
	}
	if (smsg_wrap_command(s->sm, plain, &cmd, e) < 0) {
		session_down(s);
		goto out;
	}
	if (transport_transmit(s->t, cmd.data, cmd.len, &resp, timeout_ms, e) < 0) {
		/* a reset reported before any answer: the card never saw it */
		s->op_unseen = s->op_cmds == 0 && e->code == SMK_E_RESET;
		session_down(s);
		goto out;
	}
	s->op_cmds++;
	if (smsg_unwrap_response(s->sm, resp.data, resp.len, data, sw, e) < 0) {
		/* a plain error status to the first command: the card had lost
		 * our SM session before this operation and did not execute it */
		s->op_unseen =
		    s->op_cmds == 1 && e->code == SMK_E_SM && e->sw != 0 && e->sw != 0x9000;
		session_down(s);
		goto out;
	}
	ret = 0;
out:
	if (ret < 0)
		smk_context(e, "%s", what);
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return ret;
}

/* Drive a chunked READ BINARY of fid, plain (handshake) or protected. */
static int read_file(smk_session *s, uint16_t fid, bool protected, size_t max, smk_buf *out,
		     smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	hsm_reader rd;
	uint16_t sw;
	apdu a;
	int rc;

	hsm_read_init(&rd, fid, protected, max, out);
	while ((rc = hsm_read_next(&rd, &a, e)) == 1) {
		smk_buf_reset(&data);
		if (protected)
			rc = send_sm(s, &a, apdu_timeout(s), "READ BINARY", &data, &sw, e);
		else
			rc = send_plain(s, &a, "READ BINARY", &data, &sw, e);
		if (rc < 0 || hsm_read_feed(&rd, data.data, data.len, sw, e) < 0) {
			rc = -1;
			break;
		}
	}
	smk_buf_free(&data);
	if (rc < 0)
		return smk_context(e, "EF %04X", fid);
	return 0;
}

/* SHA-256 of the PIN, to recognise a PIN the card already refused. */
static int pin_hash(const smk_buf *pin, uint8_t out[32], smk_err *e)
{
	unsigned len = 32;

	if (EVP_Digest(pin->data, pin->len, out, &len, EVP_sha256(), NULL) != 1)
		return smk_fail(e, SMK_E_CRYPTO, "PIN: SHA-256 failed");
	return 0;
}

static int verify_pin(smk_session *s, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT, pin = SMK_BUF_INIT;
	hsm_pin_status st;
	uint8_t hash[32];
	uint16_t sw;
	apdu a;
	int ret = -1;

	/* ref §5.6: the status query goes with Le so JCOP can protect it */
	hsm_build_pin_status(&a, true);
	if (send_sm(s, &a, apdu_timeout(s), "PIN status", &data, &sw, e) < 0 ||
	    hsm_parse_pin_status(data.len, sw, &st, e) < 0)
		goto out;
	if (st.state == HSM_PIN_VERIFIED) {
		ret = 0;
		goto out;
	}
	if (st.state != HSM_PIN_NOT_VERIFIED) {
		/* blocked, transport PIN, not initialised: sending a PIN cannot help */
		hsm_verify_result(0, sw, e);
		goto out;
	}
	pin.secret = 1;
	if (pin_get(s->cfg.pin, &pin, e) < 0 || pin_hash(&pin, hash, e) < 0)
		goto out;
	if (s->pin_refused && CRYPTO_memcmp(hash, s->refused_hash, sizeof(hash)) == 0) {
		smk_fail(e, SMK_E_DENIED,
			 "VERIFY: the configured PIN was refused before (%u tries left then); "
			 "not sent again until it changes",
			 s->refused_tries);
		goto out;
	}
	if (hsm_build_verify_pin(&a, pin.data, pin.len, e) < 0)
		goto out;
	smk_buf_reset(&data);
	if (send_sm(s, &a, apdu_timeout(s), "VERIFY", &data, &sw, e) < 0)
		goto out;
	smk_buf_free(&pin); /* wiped as soon as the card has answered */
	if (hsm_verify_result(data.len, sw, e) < 0) {
		if ((sw & 0xFFF0) == 0x63C0) {
			s->pin_refused = true;
			s->refused_tries = sw & 0x0F;
			memcpy(s->refused_hash, hash, sizeof(hash));
		}
		goto out;
	}
	s->pin_refused = false;
	ret = 0;
out:
	OPENSSL_cleanse(hash, sizeof(hash));
	smk_buf_free(&pin);
	smk_buf_free(&data);
	return ret;
}

/* Chip authentication with the verified DevAut key (ref §5.2). */
static int chip_authenticate(smk_session *s, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	ca_host *h = NULL;
	smsg_ctx *sm = NULL;
	uint16_t sw;
	apdu a;
	int ret = -1;

	if (ca_host_new(s->chain.curve, s->chain.point, s->chain.point_len, NULL, 0, &h, e) < 0)
		goto out;
	ca_mse_set_at(&a);
	if (send_plain(s, &a, "MSE SET AT", &data, &sw, e) < 0 ||
	    hsm_check_sw(sw, "MSE SET AT", e) < 0)
		goto out;
	smk_buf_reset(&data);
	ca_host_ga(h, &a);
	if (send_plain(s, &a, "GENERAL AUTHENTICATE", &data, &sw, e) < 0 ||
	    hsm_check_sw(sw, "GENERAL AUTHENTICATE", e) < 0 ||
	    ca_host_finish(h, data.data, data.len, &sm, e) < 0)
		goto out;
	s->sm = sm;
	ret = 0;
out:
	if (ret < 0)
		smk_context(e, "chip authentication");
	ca_host_free(h);
	smk_buf_free(&data);
	return ret;
}

static int same_device(const devaut_chain *a, const devaut_chain *b)
{
	return strcmp(a->device_chr, b->device_chr) == 0 &&
	       a->device_cert.len == b->device_cert.len &&
	       memcmp(a->device_cert.data, b->device_cert.data, a->device_cert.len) == 0;
}

/* SELECT, 2F02, chain, CA, PIN: the whole handshake, in this order, so the
 * PIN is read and sent only to a card whose chain held. */
static int handshake(smk_session *s, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT, ef = SMK_BUF_INIT;
	time_t now = s->cfg.now ? s->cfg.now() : time(NULL);
	devaut_chain chain;
	bool chain_owned = false;
	uint16_t sw;
	apdu a;
	int ret = -1;

	memset(&chain, 0, sizeof(chain));
	if (s->need_reset && transport_reconnect(s->t, 1, apdu_timeout(s), e) < 0)
		goto out;
	/* from here on, whatever happens, start the next attempt from a reset */
	s->need_reset = true;
	if (hsm_build_select(&a, 0x04, e) < 0 || send_plain(s, &a, "SELECT", &data, &sw, e) < 0 ||
	    hsm_parse_select(data.data, data.len, sw, &s->fcp, e) < 0)
		goto out;
	if (read_file(s, HSM_FID_DEVAUT, false, DEVAUT_MAX, &ef, e) < 0)
		goto out;
	if (chain_validate(ef.data, ef.len, s->cfg.trust, now, &chain, e) < 0) {
		smk_context(e, "device chain");
		goto out;
	}
	chain_owned = true;
	if (s->have_chain && !same_device(&s->chain, &chain)) {
		smk_fail(e, SMK_E_MISMATCH,
			 "device changed: was %s, now %s (a session stays with one device)",
			 s->chain.device_chr, chain.device_chr);
		goto out;
	}
	if (s->have_chain)
		chain_free(&s->chain);
	s->chain = chain;
	s->have_chain = true;
	chain_owned = false;
	if (chip_authenticate(s, e) < 0)
		goto out;
	s->up = true;
	if (s->cfg.pin != NULL && verify_pin(s, e) < 0) {
		session_down(s);
		goto out;
	}
	s->opens++;
	ret = 0;
out:
	if (chain_owned)
		chain_free(&chain);
	smk_buf_free(&data);
	smk_buf_free(&ef);
	if (ret < 0) {
		session_down(s);
		smk_context(e, "opening session");
	}
	return ret;
}

int session_new(smk_transport *t, const session_config *cfg, smk_session **out, smk_err *e)
{
	smk_session *s;

	*out = NULL;
	if (t == NULL || cfg == NULL || cfg->trust == NULL) {
		transport_close(t);
		return smk_fail(e, SMK_E_ARG, "session: transport and trust store are required");
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		transport_close(t);
		return smk_fail(e, SMK_E_NOMEM, "session: out of memory");
	}
	s->t = t;
	s->cfg = *cfg;
	*out = s;
	return 0;
}

void session_free(smk_session *s)
{
	if (s == NULL)
		return;
	smsg_free(s->sm);
	if (s->have_chain)
		chain_free(&s->chain);
	transport_close(s->t);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

int session_open(smk_session *s, smk_err *e)
{
	smk_err local;

	if (e == NULL)
		e = &local;
	if (s->up)
		return 0;
	if (handshake(s, e) < 0)
		return smk_context(e, "card %s", card_name(s));
	return 0;
}

bool session_is_up(const smk_session *s)
{
	return s->up;
}

const devaut_chain *session_chain(const smk_session *s)
{
	return s->have_chain ? &s->chain : NULL;
}

const hsm_fcp *session_fcp(const smk_session *s)
{
	return &s->fcp;
}

const char *session_reader(const smk_session *s)
{
	return transport_name(s->t);
}

unsigned session_opens(const smk_session *s)
{
	return s->opens;
}

int session_probe(smk_transport *t, unsigned timeout_ms, hsm_fcp *fcp, smk_err *e)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	smk_err ignore;
	rapdu r;
	apdu a;
	int ret = -1;

	if (hsm_build_select(&a, 0x04, e) < 0 || apdu_encode(&a, &cmd, e) < 0 ||
	    transport_transmit(t, cmd.data, cmd.len, &resp, timeout_ms, e) < 0)
		goto out;
	/* any answer that is not a SmartCard-HSM FCP means "not one" */
	if (rapdu_parse(resp.data, resp.len, &r, &ignore) < 0 ||
	    hsm_parse_select(r.data, r.len, r.sw, fcp, &ignore) < 0)
		ret = 0;
	else
		ret = 1;
out:
	smk_buf_free(&cmd);
	smk_buf_free(&resp);
	return ret;
}

int session_find_hsms(char ***readers, size_t *n, unsigned timeout_ms, smk_err *e)
{
	char **all, **found;
	size_t count, i, k = 0;
	smk_err skip;

	*readers = NULL;
	*n = 0;
	if (pcsc_list_readers(&all, &count, timeout_ms, e) < 0)
		return -1;
	found = calloc(count + 1, sizeof(*found));
	if (found == NULL) {
		pcsc_free_names(all);
		return smk_fail(e, SMK_E_NOMEM, "finding SmartCard-HSMs: out of memory");
	}
	for (i = 0; i < count; i++) {
		smk_transport *t;
		hsm_fcp fcp;
		int r;

		if (pcsc_open(all[i], timeout_ms, &t, &skip) < 0)
			continue;
		r = session_probe(t, timeout_ms, &fcp, &skip);
		transport_close(t);
		if (r == 1 && (found[k] = strdup(all[i])) != NULL)
			k++;
	}
	pcsc_free_names(all);
	*readers = found;
	*n = k;
	return 0;
}

/* ---- operations ---- */

typedef int (*op_fn)(smk_session *s, void *arg, smk_err *e);

/* Bring the session up, run fn once, and once more after a fresh handshake
 * if the card had lost the session before it executed any of fn's
 * commands. Every other failure goes back to the caller. */
static int run_op(smk_session *s, const char *what, op_fn fn, void *arg, smk_err *e)
{
	smk_err local;
	int attempt, r = -1;

	if (e == NULL)
		e = &local;
	for (attempt = 0; attempt < 2; attempt++) {
		if (!s->up && handshake(s, e) < 0)
			break;
		s->op_cmds = 0;
		s->op_unseen = false;
		r = fn(s, arg, e);
		if (r == 0)
			return 0;
		if (!s->op_unseen)
			break;
	}
	return smk_context(e, "card %s: %s", card_name(s), what);
}

static int do_pin_status(smk_session *s, void *arg, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	hsm_build_pin_status(&a, true);
	r = send_sm(s, &a, apdu_timeout(s), "VERIFY (status)", &data, &sw, e);
	if (r == 0)
		r = hsm_parse_pin_status(data.len, sw, arg, e);
	smk_buf_free(&data);
	return r;
}

int session_pin_status(smk_session *s, hsm_pin_status *st, smk_err *e)
{
	return run_op(s, "PIN status", do_pin_status, st, e);
}

struct list_arg {
	uint8_t *ids;
	size_t n;
	bool want_free;
	uint8_t free_id;
};

static int do_enumerate(smk_session *s, void *arg, smk_err *e)
{
	struct list_arg *l = arg;
	smk_buf data = SMK_BUF_INIT;
	hsm_objects objs;
	uint16_t sw;
	apdu a;
	int r;

	hsm_build_enumerate(&a, true);
	r = send_sm(s, &a, apdu_timeout(s), "ENUMERATE OBJECTS", &data, &sw, e);
	if (r == 0)
		r = hsm_parse_enumerate(data.data, data.len, sw, &objs, e);
	if (r == 0 && l->ids != NULL)
		l->n = hsm_key_ids(&objs, l->ids);
	if (r == 0 && l->want_free)
		r = hsm_free_key_id(&objs, &l->free_id, e);
	smk_buf_free(&data);
	return r;
}

int session_list_keys(smk_session *s, uint8_t ids[255], size_t *n, smk_err *e)
{
	struct list_arg l = {ids, 0, false, 0};

	*n = 0;
	if (run_op(s, "list keys", do_enumerate, &l, e) < 0)
		return -1;
	*n = l.n;
	return 0;
}

int session_free_key_id(smk_session *s, uint8_t *id, smk_err *e)
{
	struct list_arg l = {NULL, 0, true, 0};

	if (run_op(s, "find a free key id", do_enumerate, &l, e) < 0)
		return -1;
	*id = l.free_id;
	return 0;
}

/* DELETE FILE fid; a missing file is fine when missing_ok. */
static int delete_fid(smk_session *s, uint16_t fid, bool missing_ok, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT, cmd = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	r = hsm_build_delete_file(&a, &cmd, fid, e);
	if (r == 0)
		r = send_sm(s, &a, apdu_timeout(s), "DELETE FILE", &data, &sw, e);
	if (r == 0 && !(missing_ok && sw == 0x6A82))
		r = hsm_check_sw(sw, "DELETE FILE", e);
	if (r < 0)
		smk_context(e, "EF %04X", fid);
	smk_buf_free(&data);
	smk_buf_free(&cmd);
	return r;
}

static int write_file(smk_session *s, uint16_t fid, const uint8_t *content, size_t len, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	hsm_writer w;
	uint16_t sw;
	apdu a;
	int rc;

	if (hsm_write_init(&w, fid, content, len, WRITE_CHUNK_DATA, e) < 0)
		return smk_context(e, "EF %04X", fid);
	while ((rc = hsm_write_next(&w, &a, e)) == 1) {
		smk_buf_reset(&data);
		if (send_sm(s, &a, apdu_timeout(s), "UPDATE BINARY", &data, &sw, e) < 0 ||
		    hsm_write_feed(&w, sw, e) < 0) {
			rc = -1;
			break;
		}
	}
	hsm_write_free(&w);
	smk_buf_free(&data);
	if (rc < 0)
		return smk_context(e, "EF %04X", fid);
	return 0;
}

struct prkd_arg {
	uint8_t key_id;
	const char *label;
	EVP_PKEY *pub;
	const uint8_t *algs;
	size_t alg_count;
	uint8_t *id_out;
};

/* The public key bytes OpenSC derives the PKCS#15 iD from: the RSA modulus
 * or the uncompressed EC point. */
static int public_bytes(EVP_PKEY *pub, enum smk_keytype type, smk_buf *out, smk_err *e)
{
	BIGNUM *n = NULL;
	size_t len = 0;
	int r = -1;

	if (type == SMK_KEY_RSA) {
		if (EVP_PKEY_get_bn_param(pub, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
		    smk_buf_reserve(out, (size_t)BN_num_bytes(n)) < 0)
			goto out;
		out->len = (size_t)BN_bn2bin(n, out->data);
	} else {
		if (EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL,
						    0, &len) != 1 ||
		    smk_buf_reserve(out, len) < 0 ||
		    EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY,
						    out->data, len, &out->len) != 1)
			goto out;
	}
	r = 0;
out:
	BN_free(n);
	if (r < 0)
		smk_fail(e, SMK_E_CRYPTO, "PrKD: cannot read the public key");
	return r;
}

static int do_write_prkd(smk_session *s, void *arg, smk_err *e)
{
	struct prkd_arg *p = arg;
	smk_buf prkd = SMK_BUF_INIT, pub = SMK_BUF_INIT;
	uint16_t fid = HSM_FID(HSM_PREFIX_PRKD, p->key_id);
	const smk_curve *curve;
	enum smk_keytype type;
	unsigned bits;
	prkd_key k;
	int r;

	memset(&k, 0, sizeof(k));
	r = cvc_key_describe(p->pub, &type, &curve, &bits, e);
	if (r == 0)
		r = public_bytes(p->pub, type, &pub, e);
	if (r == 0)
		r = prkd_sha1_id(type, pub.data, pub.len, p->id_out, e);
	if (r == 0) {
		k.type = type;
		k.label = p->label;
		k.id = p->id_out;
		k.id_len = PRKD_SHA1_ID_LEN;
		/* ref §6.2: OpenSC's PrKD carries the EC field size (521 for P-521) */
		k.key_bits = type == SMK_KEY_EC ? curve->field_bits : bits;
		k.algs = p->algs;
		k.alg_count = p->alg_count;
		r = prkd_encode(&prkd, &k, e);
	}
	/* ref §2.4: replace by delete and re-create, not by a shorter overwrite */
	if (r == 0)
		r = delete_fid(s, fid, true, e);
	if (r == 0)
		r = write_file(s, fid, prkd.data, prkd.len, e);
	smk_buf_free(&prkd);
	smk_buf_free(&pub);
	return r;
}

int session_write_prkd(smk_session *s, uint8_t key_id, const char *label, EVP_PKEY *pub,
		       const uint8_t *algs, size_t alg_count, uint8_t prkd_id[20], smk_err *e)
{
	struct prkd_arg p = {key_id, label, pub, algs, alg_count, prkd_id};

	if (key_id == 0 || label == NULL || pub == NULL)
		return smk_fail(e, SMK_E_ARG, "write PrKD: key id, label and public key required");
	return run_op(s, "write PrKD", do_write_prkd, &p, e);
}

static const uint8_t no_oid[HSM_OID_LEN];

int session_check_cvreq(const smk_session *s, const hsm_keyspec *spec, const uint8_t *req, size_t n,
			chain_attested *out, smk_err *e)
{
	const char *want_car;

	memset(out, 0, sizeof(*out));
	if (!s->have_chain)
		return smk_fail(e, SMK_E_ARG, "CV request: no verified device chain yet");
	if (chain_verify_authreq(&s->chain, req, n, out, e) < 0)
		return smk_context(e, "CV request");
	/* chain_verify_authreq checks this too; it is the point of the whole
	 * exercise, so say it here as well */
	if (strcmp(out->outer_car, s->chain.device_chr) != 0) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: outer CAR %s is not the device %s",
			 out->outer_car, s->chain.device_chr);
		goto bad;
	}
	if (spec == NULL)
		return 0;
	if (strcmp(out->chr, spec->chr) != 0) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: CHR \"%s\", asked for \"%s\"", out->chr,
			 spec->chr);
		goto bad;
	}
	want_car = spec->car;
	if (want_car[0] != '\0' ? (!out->has_car || strcmp(out->car, want_car) != 0)
				: out->has_car) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: inner CAR \"%s\", asked for \"%s\"",
			 out->has_car ? out->car : "", want_car);
		goto bad;
	}
	if (out->type != spec->type) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: %s key, asked for %s",
			 keytype_name(out->type), keytype_name(spec->type));
		goto bad;
	}
	if (spec->type == SMK_KEY_EC && out->curve != spec->curve) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: key on %s, asked for %s",
			 out->curve ? out->curve->name : "(none)",
			 spec->curve ? spec->curve->name : "(none)");
		goto bad;
	}
	if (spec->type == SMK_KEY_RSA && out->bits != spec->rsa_bits) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: RSA-%u key, asked for RSA-%u", out->bits,
			 spec->rsa_bits);
		goto bad;
	}
	/* an explicit id-TA OID in the GAKP must come back in the request */
	if (memcmp(spec->oid, no_oid, sizeof(no_oid)) != 0 &&
	    (out->alg == NULL || memcmp(out->alg->oid, spec->oid, HSM_OID_LEN) != 0)) {
		smk_fail(e, SMK_E_MISMATCH, "CV request: key algorithm %s is not the one asked for",
			 out->alg ? out->alg->name : "(none)");
		goto bad;
	}
	return 0;
bad:
	chain_attested_free(out);
	return -1;
}

struct gen_arg {
	const session_keygen *g;
	session_key *out;
};

static int do_generate(smk_session *s, void *arg, smk_err *e)
{
	struct gen_arg *ga = arg;
	session_key *k = ga->out;
	smk_buf cmd = SMK_BUF_INIT, data = SMK_BUF_INIT;
	struct list_arg l = {NULL, 0, true, 0};
	struct prkd_arg p;
	const uint8_t *req;
	size_t req_len;
	uint16_t sw;
	apdu a;
	int r = -1;

	session_key_free(k);
	if (ga->g->key_id != 0) {
		k->key_id = ga->g->key_id;
	} else {
		if (do_enumerate(s, &l, e) < 0)
			goto out;
		k->key_id = l.free_id;
	}
	if (hsm_build_gakp(&a, &cmd, k->key_id, 0, &ga->g->spec, true, e) < 0 ||
	    send_sm(s, &a, keygen_timeout(s), "GAKP", &data, &sw, e) < 0 ||
	    hsm_parse_gakp_response(data.data, data.len, sw, &req, &req_len, e) < 0)
		goto fail;
	if (req_len == 0) {
		/* ref §6.3: the card keeps the request in CE|id as well */
		if (read_file(s, HSM_FID(HSM_PREFIX_CERT, k->key_id), true, CE_MAX, &k->cvreq, e) <
		    0)
			goto fail;
	} else if (smk_buf_add(&k->cvreq, req, req_len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "GAKP: out of memory");
		goto fail;
	}
	if (session_check_cvreq(s, &ga->g->spec, k->cvreq.data, k->cvreq.len, &k->att, e) < 0) {
		smk_err del;

		/* a key without a valid attestation must not stay on the card */
		if (delete_fid(s, HSM_FID(HSM_PREFIX_KEY, k->key_id), false, &del) == 0)
			smk_context(e, "key %u deleted again", k->key_id);
		else
			smk_context(e, "key %u NOT deleted (%s)", k->key_id, del.msg);
		goto fail;
	}
	if (ga->g->label != NULL) {
		p.key_id = k->key_id;
		p.label = ga->g->label;
		p.pub = k->att.key;
		p.algs = ga->g->spec.algs;
		p.alg_count = ga->g->spec.alg_count;
		p.id_out = k->prkd_id;
		if (do_write_prkd(s, &p, e) < 0) {
			smk_context(e, "key %u generated, PrKD", k->key_id);
			goto out; /* the key stands: out describes it */
		}
		k->has_prkd = true;
	}
	r = 0;
	goto out;
fail:
	smk_context(e, "key %u", k->key_id);
	session_key_free(k);
out:
	smk_buf_free(&cmd);
	smk_buf_free(&data);
	return r;
}

int session_generate(smk_session *s, const session_keygen *g, session_key *out, smk_err *e)
{
	struct gen_arg ga = {g, out};

	memset(out, 0, sizeof(*out));
	if (g->spec.chr[0] == '\0')
		return smk_fail(e, SMK_E_ARG, "generate: a CHR is required");
	return run_op(s, "generate", do_generate, &ga, e);
}

void session_key_free(session_key *k)
{
	if (k == NULL)
		return;
	smk_buf_free(&k->cvreq);
	chain_attested_free(&k->att);
	memset(k, 0, sizeof(*k));
}

struct read_arg {
	uint8_t key_id;
	smk_buf *out;
};

static int do_read_cvreq(smk_session *s, void *arg, smk_err *e)
{
	struct read_arg *ra = arg;

	smk_buf_reset(ra->out);
	return read_file(s, HSM_FID(HSM_PREFIX_CERT, ra->key_id), true, CE_MAX, ra->out, e);
}

int session_read_cvreq(smk_session *s, uint8_t key_id, smk_buf *out, smk_err *e)
{
	struct read_arg ra = {key_id, out};

	return run_op(s, "read CV request", do_read_cvreq, &ra, e);
}

struct sign_arg {
	uint8_t key_id, alg;
	const uint8_t *in;
	size_t n;
	smk_buf *sig;
};

static int do_sign(smk_session *s, void *arg, smk_err *e)
{
	struct sign_arg *sa = arg;
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	r = hsm_build_sign(&a, sa->key_id, sa->alg, sa->in, sa->n, true, e);
	if (r == 0)
		r = send_sm(s, &a, apdu_timeout(s), "SIGN", &data, &sw, e);
	if (r == 0)
		r = hsm_check_sw(sw, "SIGN", e);
	if (r == 0 && data.len == 0)
		r = smk_fail(e, SMK_E_FORMAT, "SIGN: empty answer");
	if (r == 0 && smk_buf_add(sa->sig, data.data, data.len) < 0)
		r = smk_fail(e, SMK_E_NOMEM, "SIGN: out of memory");
	smk_buf_free(&data);
	return r;
}

int session_sign(smk_session *s, uint8_t key_id, uint8_t alg, const uint8_t *in, size_t n,
		 smk_buf *sig, smk_err *e)
{
	struct sign_arg sa = {key_id, alg, in, n, sig};

	return run_op(s, "sign", do_sign, &sa, e);
}

static int do_delete(smk_session *s, void *arg, smk_err *e)
{
	uint8_t id = *(uint8_t *)arg;

	if (delete_fid(s, HSM_FID(HSM_PREFIX_KEY, id), false, e) < 0 ||
	    delete_fid(s, HSM_FID(HSM_PREFIX_PRKD, id), true, e) < 0 ||
	    delete_fid(s, HSM_FID(HSM_PREFIX_CERT, id), true, e) < 0)
		return -1;
	return 0;
}

int session_delete_key(smk_session *s, uint8_t key_id, smk_err *e)
{
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "delete: key 0 is the device key");
	return run_op(s, "delete key", do_delete, &key_id, e);
}
