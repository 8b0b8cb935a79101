/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card session: lifecycle, the handshake, the two send paths (plain for
 * the handshake only, protected for everything else) and recovery. The key
 * operations are in session_keys.c. Commands are built and parsed by hsm.h,
 * the device chain checked by chain.h, chip authentication and SM done by
 * ca.h / smsg.h; this file only decides what is sent when, and what happens
 * when something fails.
 */
#include "session_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "apdu.h"
#include "ca.h"
#include "pcsc.h"

/* EF 2F02 holds two certificates of ~230 bytes each (ref §2.1); anything
 * far beyond is not a device chain. */
#define DEVAUT_MAX 4096

const char *session_card_name(const smk_session *s)
{
	if (s->have_chain)
		return s->chain.serial;
	return transport_name(s->t);
}

unsigned session_apdu_timeout(const smk_session *s)
{
	return s->cfg.apdu_timeout_ms ? s->cfg.apdu_timeout_ms : SESSION_APDU_TIMEOUT_MS;
}

unsigned session_keygen_timeout(const smk_session *s)
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

/* The end of one command/response exchange, plain or protected: a failure
 * names the command, and both APDU buffers go. */
static int exchange_end(int ret, const char *what, smk_buf *cmd, smk_buf *resp, smk_err *e)
{
	if (ret < 0)
		smk_context(e, "%s", what);
	smk_buf_free(cmd);
	smk_buf_free(resp);
	return ret;
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
	    transport_transmit(s->t, cmd.data, cmd.len, &resp, session_apdu_timeout(s), e) < 0 ||
	    rapdu_parse(resp.data, resp.len, &r, e) < 0)
		goto out;
	if (smk_buf_add(data, r.data, r.len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	*sw = r.sw;
	ret = 0;
out:
	return exchange_end(ret, what, &cmd, &resp, e);
}

/* Commands whose effect on the card must never be repeated on a guess: GAKP
 * makes a key (and replaces the one at its id), SIGN and DECIPHER may count
 * down a use counter. An unprotected answer proves nothing about them: the
 * card cannot send one while SM is up, so it came from someone between host
 * and card, and the card may well have executed the command. */
static bool has_effect(const apdu *a)
{
	return a->ins == 0x46 || a->ins == 0x68 || a->ins == 0x62;
}

bool session_cmd_may_have_run(const smk_session *s)
{
	return !s->cmd_unseen;
}

int session_send_sm(smk_session *s, const apdu *plain, unsigned timeout_ms, const char *what,
		    smk_buf *data, uint16_t *sw, smk_err *e)
{
	smk_buf cmd = SMK_BUF_INIT, resp = SMK_BUF_INIT;
	int ret = -1;

	cmd.secret = 1; /* the plain PIN passes through the wrapper's input only, but be safe */
	s->cmd_unseen = true; /* until it is transmitted */
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
		s->cmd_unseen = e->code == SMK_E_RESET;
		s->op_unseen = s->op_cmds == 0 && s->cmd_unseen;
		session_down(s);
		goto out;
	}
	s->cmd_unseen = false;
	s->op_cmds++;
	if (smsg_unwrap_response(s->sm, resp.data, resp.len, data, sw, e) < 0) {
		/* a plain error status to the first command: the card had lost
		 * our SM session before this operation and did not execute it.
		 * Taken on trust only where running the command twice is harmless;
		 * never for a command with an effect (has_effect) */
		s->op_unseen = s->op_cmds == 1 && e->code == SMK_E_SM && e->sw != 0 &&
			       e->sw != 0x9000 && !has_effect(plain);
		session_down(s);
		goto out;
	}
	ret = 0;
out:
	return exchange_end(ret, what, &cmd, &resp, e);
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
			rc = session_send_sm(s, &a, session_apdu_timeout(s), "READ BINARY", &data,
					     &sw, e);
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

int session_read_protected(smk_session *s, uint16_t fid, size_t max, smk_buf *out, smk_err *e)
{
	return read_file(s, fid, true, max, out, e);
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
	if (session_send_sm(s, &a, session_apdu_timeout(s), "PIN status", &data, &sw, e) < 0 ||
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
	if (session_send_sm(s, &a, session_apdu_timeout(s), "VERIFY", &data, &sw, e) < 0)
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
	if (s->need_reset && transport_reconnect(s->t, 1, session_apdu_timeout(s), e) < 0)
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
		return smk_context(e, "card %s", session_card_name(s));
	return 0;
}

void session_release(smk_session *s)
{
	session_down(s);
	transport_release(s->t);
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

int session_run_op(smk_session *s, const char *what, session_op_fn fn, void *arg, smk_err *e)
{
	smk_err local;
	int attempt, r = -1;

	if (e == NULL)
		e = &local;
	for (attempt = 0; attempt < 2; attempt++) {
		if (!s->up && handshake(s, e) < 0) {
			/* the card or pcscd went away under the handshake; it
			 * starts from a reconnect, so once more is safe */
			if (attempt == 0 && e->code == SMK_E_RESET)
				continue;
			break;
		}
		s->op_cmds = 0;
		s->op_unseen = false;
		r = fn(s, arg, e);
		if (r == 0)
			return 0;
		if (!s->op_unseen)
			break;
	}
	return smk_context(e, "card %s: %s", session_card_name(s), what);
}

static int do_pin_status(smk_session *s, void *arg, smk_err *e)
{
	smk_buf data = SMK_BUF_INIT;
	uint16_t sw;
	apdu a;
	int r;

	hsm_build_pin_status(&a, true);
	r = session_send_sm(s, &a, session_apdu_timeout(s), "VERIFY (status)", &data, &sw, e);
	if (r == 0)
		r = hsm_parse_pin_status(data.len, sw, arg, e);
	smk_buf_free(&data);
	return r;
}

int session_pin_status(smk_session *s, hsm_pin_status *st, smk_err *e)
{
	return session_run_op(s, "PIN status", do_pin_status, st, e);
}
