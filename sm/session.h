/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A session with one SmartCard-HSM: the host side of the card protocol.
 *
 * Opening (or re-opening) a session runs the whole handshake on one
 * exclusive connection (sm/pcsc.h): SELECT, read EF 2F02, validate the
 * device chain against the pinned roots at the current time (fail closed),
 * chip authentication with the verified DevAut key, then the PIN status and
 * VERIFY under secure messaging. The PIN is read only after the chain held
 * and SM is up, so no PIN byte leaves the host for a card we do not trust.
 *
 * Once SM is up every command is protected. The API offers no raw or plain
 * transmit: GENERATE ASYMMETRIC KEY PAIR, VERIFY, SIGN, UPDATE BINARY,
 * DELETE FILE, ENUMERATE OBJECTS and READ BINARY all go through the one
 * protected path.
 *
 * Recovery: any transport error, SM failure (bad MAC, plain answer) or card
 * reset marks the session down and is returned to the caller; the next
 * operation resets the card and runs the full handshake again. An operation
 * whose very first command finds the card reset, or answered in plain (the
 * card never executed it), re-opens the session and starts over once. Nothing
 * is ever retried in plain. A card that comes back with a different device
 * certificate is refused.
 *
 * A PIN that the card refuses is remembered (as a hash, in memory) and not
 * sent again, so re-opening cannot use up the retry counter; changing the
 * PIN file clears the refusal.
 *
 * Threading: a session is owned by one thread (the daemon worker for its
 * reader). Nothing here locks; hand a session to another thread only while
 * the owner does not use it.
 */
#ifndef SMK_SESSION_H
#define SMK_SESSION_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "chain.h"
#include "hsm.h"
#include "pin.h"
#include "transport.h"

/* Ordinary commands; key generation (RSA-4096 takes minutes on JCOP). */
#define SESSION_APDU_TIMEOUT_MS 15000u
#define SESSION_KEYGEN_TIMEOUT_MS 600000u

typedef struct session_config {
	const trust_store *trust;   /* pinned roots; must outlive the session */
	const smk_pin_source *pin;  /* NULL: no VERIFY (read-only use: info, reading CE|id) */
	unsigned apdu_timeout_ms;   /* 0: SESSION_APDU_TIMEOUT_MS */
	unsigned keygen_timeout_ms; /* 0: SESSION_KEYGEN_TIMEOUT_MS */
	time_t (*now)(void);	    /* the time the chain must be valid at; NULL: time() */
} session_config;

typedef struct smk_session smk_session;

/* A session on transport t, which it owns from now on (closed by
 * session_free, or here on failure). No card I/O yet. */
int session_new(smk_transport *t, const session_config *cfg, smk_session **out, smk_err *e);
/* Close the transport (resetting the card), wipe keys and PIN state. */
void session_free(smk_session *s);

/* Let the card go (idle release, docs/daemon.md): end secure messaging and
 * disconnect, resetting the card, so other PC/SC clients may connect. The
 * session keeps its device chain: the next operation connects again and
 * runs the whole handshake, refusing another device. */
void session_release(smk_session *s);

/* Bring the session up if it is down. Every operation below does this
 * itself; call it to fail early (daemon start) or to read the chain. */
int session_open(smk_session *s, smk_err *e);
bool session_is_up(const smk_session *s);
/* The validated device chain of the last successful open, or NULL. */
const devaut_chain *session_chain(const smk_session *s);
/* Applet version and options from the last SELECT. */
const hsm_fcp *session_fcp(const smk_session *s);
const char *session_reader(const smk_session *s);
/* How many times the handshake has run (1 after the first open). */
unsigned session_opens(const smk_session *s);

/* Readers that hold a SmartCard-HSM right now (each probed on an exclusive
 * connection; readers that are empty or in use by someone else are left
 * out). NULL-terminated; free with pcsc_free_names. */
int session_find_hsms(char ***readers, size_t *n, unsigned timeout_ms, smk_err *e);

/* Is the card in t a SmartCard-HSM? Sends one plain SELECT and nothing else;
 * for listing readers before any session exists. 1 yes, 0 no, -1 error. */
int session_probe(smk_transport *t, unsigned timeout_ms, hsm_fcp *fcp, smk_err *e);

/* ---- operations, all under secure messaging ---- */

/* PIN state as the card reports it (tries left when not verified). */
int session_pin_status(smk_session *s, hsm_pin_status *st, smk_err *e);

/* Key ids 1..255 with a key object, ascending. */
int session_list_keys(smk_session *s, uint8_t ids[255], size_t *n, smk_err *e);

/* Whether key id holds a key. Answered from what this SM session already
 * knows (its last ENUMERATE and its own writes since); one ENUMERATE only
 * when the session is new. */
int session_key_id_used(smk_session *s, uint8_t key_id, bool *used, smk_err *e);
/* The lowest key id without a key object. */
int session_free_key_id(smk_session *s, uint8_t *id, smk_err *e);

typedef struct session_keygen {
	/* type, curve or RSA bits, algorithm list, use counter, key domain,
	 * CHR and optional inner CAR: sent as given in the GAKP */
	hsm_keyspec spec;
	uint8_t key_id;	   /* 0: the lowest free id */
	const char *label; /* PrKD label (C4|id); NULL: write no PrKD */
	/* key_id must hold no key: checked right before the GAKP, in the same
	 * SM session (a listing of an earlier session is not trusted); a used
	 * id is refused with SMK_E_MISMATCH and nothing is generated */
	bool must_be_free;
} session_keygen;

typedef struct session_key {
	uint8_t key_id;
	smk_buf cvreq;	     /* the authenticated request (67 ...) exactly as returned */
	chain_attested att;  /* what it proves, verified: CHR, type, curve, bits, key, SPKI, PEM */
	uint8_t prkd_id[20]; /* PKCS#15 ID in C4|id: SHA-1 of the public key, as OpenSC */
	bool has_prkd;
	/* the GAKP went out in this call: after a failure the card may hold a
	 * key at the id asked for (its answer may be what was lost) */
	bool gakp_sent;
} session_key;

void session_key_free(session_key *k);

/* Generate a key pair under SM and check the returned authenticated
 * request (outer CAR == DevAut CHR, outer signature by the verified DevAut
 * key, inner signature, CHR/CAR echoed, key type and curve/size as asked).
 * A key whose request does not hold is deleted again. Then write the PrKD
 * when a label is given. On failure after the key was made and checked (PrKD
 * write), out still describes the key and out->key_id is not 0. */
int session_generate(smk_session *s, const session_keygen *g, session_key *out, smk_err *e);

/* The check session_generate applies, for a request read back later (daemon
 * recovery). spec may be NULL to skip the comparison with what was asked. */
int session_check_cvreq(const smk_session *s, const hsm_keyspec *spec, const uint8_t *req, size_t n,
			chain_attested *out, smk_err *e);

/* Write (replace) the PrKD of key_id: label, the iD derived from pub
 * (prkd_sha1_id, returned in prkd_id) and the usage its algorithm list
 * allows (none: unrestricted). */
int session_write_prkd(smk_session *s, uint8_t key_id, const char *label, EVP_PKEY *pub,
		       const uint8_t *algs, size_t alg_count, uint8_t prkd_id[20], smk_err *e);

/* Read EF CE|key_id (the authenticated request right after generation). */
int session_read_cvreq(smk_session *s, uint8_t key_id, smk_buf *out, smk_err *e);

/* SIGN with key_id and algorithm alg (ref §6.6). The output is what the card
 * returns: DER for ECDSA, the raw signature for RSA. */
int session_sign(smk_session *s, uint8_t key_id, uint8_t alg, const uint8_t *in, size_t n,
		 smk_buf *sig, smk_err *e);

/* The most input bytes session_sign sends with algorithm alg: one extended
 * SIGN under SM whose protected APDU fits HSM_APDU_MAX (ref §7.12; 1199
 * bytes). session_sign refuses more with SMK_E_ARG naming both sizes, before
 * anything is sent. It asks nothing of the card: s may be NULL (the same
 * limit for every genuine device), so any thread may call it. */
size_t session_sign_max_input(const smk_session *s, uint8_t alg);

/* Delete the key and its PrKD and certificate EFs. */
int session_delete_key(smk_session *s, uint8_t key_id, smk_err *e);

/* ---- what the card says about import and a key's algorithm list ---- */

/* MANAGE KEY DOMAIN status for domains 0, 1, ... under SM until the card
 * answers 6A86 (no such domain) or HSM_KEY_DOMAINS_MAX were asked. A card
 * that does not answer for domain 0 (6D00 / 6E00 / 6A86) gives
 * out->reported false and count 0: not an error. Malformed answers and
 * other SWs are. */
int session_key_domains(smk_session *s, hsm_domain_state *out, smk_err *e);

/* The algorithm list the card reports for key_id in the FCP of CC|key_id
 * (SELECT under SM), if it reports one: *reported false when it does not
 * (then *n is 0); *reported true with *n 0 means the card says the key has
 * no list (every algorithm of its type). A malformed FCP is an error. */
int session_key_algs(smk_session *s, uint8_t key_id, uint8_t algs[SMK_ALG_LIST_MAX], size_t *n,
		     bool *reported, smk_err *e);

/* ---- what the card holds for each key (CE|id, C4|id), under SM ---- */

/* What EF CE|id holds (ref §2.1, §3.6: first tag 67 / 30 / 7F21). */
enum session_ce_kind {
	SESSION_CE_NONE = 0,   /* no EF CE|id */
	SESSION_CE_CVREQ,      /* authenticated request 67 ... (attestation still there) */
	SESSION_CE_X509,       /* X.509 certificate 30 ... */
	SESSION_CE_CVC,	       /* CV certificate 7F21 ... */
	SESSION_CE_EMPTY,      /* EF exists, no content */
	SESSION_CE_OTHER,      /* anything else */
	SESSION_CE_KIND_COUNT, /* not a kind: how many there are */
};
/* "cv-request", "x509", "cvc", "empty", "none", "other" */
const char *session_ce_kind_name(enum session_ce_kind k);

/* Largest certificate session_write_cert puts into CE|id. */
#define SESSION_CERT_MAX 4096

/* Read EF CE|key_id and classify it by its first TLV; the content is
 * appended to out (nothing for NONE / EMPTY). */
int session_read_ce(smk_session *s, uint8_t key_id, enum session_ce_kind *kind, smk_buf *out,
		    smk_err *e);

/* Replace EF CE|key_id with an X.509 certificate (DER, exactly one X.509
 * certificate, at most SESSION_CERT_MAX bytes) of an existing key: DELETE
 * FILE, UPDATE BINARY in chunks, then read back and compare. Whether the
 * certificate belongs to the key is the caller's business (the daemon
 * checks it against the archived SPKI before writing). From the DELETE on,
 * the CV request is gone from the card: a failure after it may leave CE|id
 * missing or partly written, so write only once the request is archived. */
int session_write_cert(smk_session *s, uint8_t key_id, const uint8_t *der, size_t n, smk_err *e);

/* One key on the card, for `inspect`. */
typedef struct session_object {
	uint8_t key_id;
	bool has_prkd;
	char label[128];       /* from C4|id, "" when none */
	bool type_known;       /* type below is valid */
	enum smk_keytype type; /* from the PrKD or the CE content */
	unsigned bits;	       /* RSA modulus bits or EC field bits, 0 unknown */
	char curve[32];	       /* EC curve name when known, else "" */
	enum session_ce_kind ce;
	smk_buf ce_bytes;	/* CE content (CV request or certificate) */
	smk_buf spki;		/* public key SPKI DER when CE holds a CV request or X.509 cert */
	bool ce_attested;	/* CE holds a CV request that verifies against this device's
				   validated DevAut key (chain_verify_authreq) */
	bool use_counter_known; /* the applet does not report it: false unless a source exists */
	uint32_t use_counter;
	char problem[200]; /* what could not be read or did not parse, "" when nothing */
} session_object;

/* Every key id with a key object (1..255, ascending): its PrKD, CE|id
 * classified, the public key when derivable. A PrKD or CE that does not
 * parse is reported in problem, not as a failure of the listing. */
int session_list_objects(smk_session *s, session_object **list, size_t *n, smk_err *e);
void session_objects_free(session_object *list, size_t n);

#endif
