/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SmartCard-HSM command set (protocol reference §1, §2, §6, §7): pure
 * builders that fill an apdu, and parsers that turn response data and a
 * status word into typed results or an error naming the command and the SW
 * ("GAKP refused, SW 6982 (...)"). Nothing here does I/O; the session layer
 * sends the APDUs (wrapped in secure messaging) and the simulator uses the
 * card-side parsers.
 *
 * Command data lives either in caller memory (PIN, SIGN input: the apdu
 * points at it, nothing is copied) or in a caller-owned smk_buf that the
 * builder empties and fills; apdu.data then points into that buffer and is
 * valid until the buffer is next changed.
 */
#ifndef SMK_HSM_H
#define SMK_HSM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "alg.h"
#include "apdu.h"
#include "curves.h"

/* ref §1.1: E8 followed by the content octets of OID 1.3.6.1.4.1.24991.2.1 */
#define HSM_AID_LEN 11
extern const uint8_t hsm_aid[HSM_AID_LEN];

/* FID prefixes (ref §2.1); the low byte is the key id */
#define HSM_PREFIX_KEY 0xCC
#define HSM_PREFIX_PRKD 0xC4
#define HSM_PREFIX_CERT 0xCE
#define HSM_FID_DEVAUT 0x2F02
#define HSM_FID(prefix, id) ((uint16_t)((prefix) << 8 | (id)))

/* PIN lengths accepted by the applet (ref §7.1) */
#define HSM_PIN_MIN 6
#define HSM_PIN_MAX 16
#define HSM_SOPIN_LEN 8

/* 9000 -> 0; anything else -> sw_fail naming what. */
int hsm_check_sw(uint16_t sw, const char *what, smk_err *e);

/* ---- SELECT (ref §1.2) ---- */

/* p2: 0x00 or 0x04 ask for the FCP (Le 00), 0x0C asks for nothing. */
int hsm_build_select(apdu *a, uint8_t p2, smk_err *e);

typedef struct hsm_fcp {
	uint8_t version_major, version_minor;
	bool has_build_type;
	uint8_t build_type; /* 00 JCOP applet, 01 demo applet, FF pico-hsm */
	bool has_options;
	uint16_t options; /* option word set by INITIALIZE DEVICE (ref §7.6) */
} hsm_fcp;

/* Parse `62 { ... 85 L info ... }`; rejects a response without an 85 of at
 * least 2 bytes (that is not a SmartCard-HSM). */
int hsm_parse_select(const uint8_t *data, size_t len, uint16_t sw, hsm_fcp *out, smk_err *e);

/* ---- ENUMERATE OBJECTS (ref §2.2) ---- */

void hsm_build_enumerate(apdu *a, bool extended);

/* A view of the FID list; points into the response data. */
typedef struct hsm_objects {
	const uint8_t *fids;
	size_t count;
} hsm_objects;

int hsm_parse_enumerate(const uint8_t *data, size_t len, uint16_t sw, hsm_objects *out, smk_err *e);
uint16_t hsm_objects_fid(const hsm_objects *o, size_t i);
bool hsm_objects_has(const hsm_objects *o, uint16_t fid);
/* Key ids 1..255 that have a key object `CC id`, ascending, each once.
 * Returns the count (at most 255). */
size_t hsm_key_ids(const hsm_objects *o, uint8_t ids[255]);
/* Lowest key id in 1..255 without a key object; fails when all are taken. */
int hsm_free_key_id(const hsm_objects *o, uint8_t *id, smk_err *e);

/* ---- READ BINARY / UPDATE BINARY / DELETE FILE (ref §2.3-2.5) ---- */

/* `00 B1 FID 04 54 02 off 00` (short, Le 256) or extended (Le 65536). */
int hsm_build_read_binary(apdu *a, smk_buf *data, uint16_t fid, size_t offset, bool extended,
			  smk_err *e);

/* The chunked reader: a driver that decides what to send next and when the
 * file is complete, so the caller only moves bytes.
 *
 *	hsm_read_init(&r, fid, ext, max, &content);
 *	while ((rc = hsm_read_next(&r, &a, e)) == 1) {
 *		send a, receive data + sw;
 *		if (hsm_read_feed(&r, data, len, sw, e) < 0) fail;
 *	}
 *
 * It stops on SW 6282, on an empty answer, or when fewer bytes came back
 * than were asked for; it fails once the content would exceed max_total (a
 * hostile card sending forever) or on any other SW. SW 61xx (ISO 7816-4
 * "more data", seen on plain READ BINARY 2F02 of other firmware) keeps the
 * data and makes the next command GET RESPONSE `00 C0 00 00 xx`; when the
 * card has no more to give there, reading goes on at the new offset (where
 * 6B00, "offset outside the file", also means the end). */
typedef struct hsm_reader {
	uint16_t fid;
	bool extended;
	bool done;
	bool failed;
	bool awaiting; /* a command was handed out and not yet answered */
	size_t max_total;
	size_t offset;
	size_t asked;
	unsigned more;	   /* 61xx: bytes announced for GET RESPONSE (256 for 6100), or 0 */
	bool get_response; /* the command handed out is a GET RESPONSE */
	bool chained;	   /* the last READ BINARY was completed by GET RESPONSE */
	uint8_t cmd[4];
	smk_buf *out;
} hsm_reader;

void hsm_read_init(hsm_reader *r, uint16_t fid, bool extended, size_t max_total, smk_buf *out);
/* 1: *a holds the next command (its data points into r); 0: finished. */
int hsm_read_next(hsm_reader *r, apdu *a, smk_err *e);
int hsm_read_feed(hsm_reader *r, const uint8_t *data, size_t len, uint16_t sw, smk_err *e);

/* One UPDATE BINARY: `00 D7 FID Lc 54 02 off 53 L content` (DER length). */
int hsm_build_update_binary(apdu *a, smk_buf *data, uint16_t fid, size_t offset,
			    const uint8_t *content, size_t len, smk_err *e);
/* How many content bytes fit one UPDATE BINARY whose command data may be
 * max_data bytes (255 -> 248, ref §1.4). 0 if max_data is too small. */
size_t hsm_update_chunk_len(size_t max_data);

/* The chunked writer: content is cut into UPDATE BINARY commands of at most
 * max_data command bytes at increasing offsets. Empty content gives one
 * command that creates an empty EF (ref §2.4). content must stay valid. */
typedef struct hsm_writer {
	uint16_t fid;
	const uint8_t *content;
	size_t len;
	size_t pos;
	size_t chunk;
	size_t sent; /* content bytes in the command handed out */
	bool started;
	bool awaiting;
	bool failed;
	smk_buf cmd;
} hsm_writer;

int hsm_write_init(hsm_writer *w, uint16_t fid, const uint8_t *content, size_t len, size_t max_data,
		   smk_err *e);
int hsm_write_next(hsm_writer *w, apdu *a, smk_err *e); /* 1 command ready, 0 done */
int hsm_write_feed(hsm_writer *w, uint16_t sw, smk_err *e);
void hsm_write_free(hsm_writer *w);

/* `00 E4 02 00 02 FID` */
int hsm_build_delete_file(apdu *a, smk_buf *data, uint16_t fid, smk_err *e);

/* Card side (simulator): `54 L off` and `54 L off 53 L content`. content
 * points into data. */
int hsm_parse_read_binary_cmd(const uint8_t *data, size_t len, size_t *offset, smk_err *e);
int hsm_parse_update_binary_cmd(const uint8_t *data, size_t len, size_t *offset,
				const uint8_t **content, size_t *content_len, smk_err *e);
int hsm_parse_delete_file_cmd(const uint8_t *data, size_t len, uint16_t *fid, smk_err *e);

/* ---- VERIFY (ref §7.1) ---- */

/* `00 20 00 81 Lc PIN`; the apdu points at the caller's PIN (no copy). */
int hsm_build_verify_pin(apdu *a, const uint8_t *pin, size_t pin_len, smk_err *e);
/* `00 20 00 81`; with_le adds Le 00 (JCOP cannot protect case 1 under SM, ref §5.6). */
void hsm_build_pin_status(apdu *a, bool with_le);
int hsm_check_pin_len(size_t pin_len, smk_err *e);

enum hsm_pin_state {
	HSM_PIN_VERIFIED = 1,	 /* 9000 */
	HSM_PIN_NOT_VERIFIED,	 /* 63Cx: wrong PIN / not yet verified, x tries left */
	HSM_PIN_BLOCKED,	 /* 6983 (or 63C0) */
	HSM_PIN_TRANSPORT,	 /* 6984: transport PIN, must be changed first */
	HSM_PIN_NOT_INITIALISED, /* 6A88 */
};

typedef struct hsm_pin_status {
	enum hsm_pin_state state;
	unsigned tries_left; /* for HSM_PIN_NOT_VERIFIED */
} hsm_pin_status;

/* Map the answer to VERIFY or the status query. Returns 0 for every state
 * above, -1 for any other SW or for response data. */
int hsm_parse_pin_status(size_t len, uint16_t sw, hsm_pin_status *out, smk_err *e);
/* 0 only when verified; otherwise an SMK_E_CARD error saying why (wrong PIN
 * with tries left, blocked, transport PIN, not initialised), e->sw set. */
int hsm_verify_result(size_t len, uint16_t sw, smk_err *e);

/* ---- MANAGE KEY DOMAIN query (ref §2.7) ---- */

/* Domains asked about at most: domain numbers 0 .. HSM_KEY_DOMAINS_MAX-1. */
#define HSM_KEY_DOMAINS_MAX 16

enum hsm_domain_kind {
	HSM_DOMAIN_EMPTY = 0,  /* 6A88: the domain exists but is not set up */
	HSM_DOMAIN_DKEK,       /* a DKEK domain (shares imported or outstanding) */
	HSM_DOMAIN_XKEK,       /* an XKEK domain (the answer carries a domain UID) */
	HSM_DOMAIN_KIND_COUNT, /* not a kind: how many there are */
};
/* "empty", "dkek", "xkek" */
const char *hsm_domain_kind_name(enum hsm_domain_kind k);

typedef struct hsm_key_domain {
	uint8_t index;
	enum hsm_domain_kind kind;
	uint8_t shares_total, shares_outstanding; /* DKEK: as the card reports them */
	uint8_t kcv[8];				  /* first 8 bytes of SHA-256(DKEK) */
	bool has_kcv; /* kcv is the check value of a complete key (DKEK with no share
			 outstanding, or an XKEK domain that reports a non-zero one) */
} hsm_key_domain;

/* What the card says about its key domains, read at one moment. */
typedef struct hsm_domain_state {
	/* false: the card did not answer the query for domain 0 (6D00, 6E00:
	 * not supported; 6A86: no domain configured). count is 0 then, and
	 * "not reported" is all that is known. */
	bool reported;
	uint16_t sw0; /* the SW of the query for domain 0 (0x9000, 0x6A88, 0x6A86, ...) */
	size_t count; /* domains the card has, d[0 .. count) */
	hsm_key_domain d[HSM_KEY_DOMAINS_MAX];
	/* some domain is set up (a DKEK domain in any share state, or an XKEK
	 * domain): a key may have come in through UNWRAP KEY. Outstanding shares
	 * can be imported later and a domain's KEK can be deleted and set again
	 * (P1 04), so only "no domain set up" counts as not import-capable, and
	 * that only for the moment of the query. */
	bool can_import;
} hsm_domain_state;

/* `80 52 00 <domain> Le 00`: the status of one domain, no data. */
void hsm_build_key_domain_query(apdu *a, uint8_t domain);

enum hsm_domain_answer {
	HSM_DOMAIN_ANSWER_PRESENT = 0, /* 9000 with a status: *out filled */
	HSM_DOMAIN_ANSWER_EMPTY,       /* 6A88: not set up (out->kind EMPTY) */
	HSM_DOMAIN_ANSWER_BEYOND,      /* 6A86: no domain with this number */
	HSM_DOMAIN_ANSWER_UNSUPPORTED, /* 6D00 / 6E00: the card has no such command */
};
/* Parse the answer to the query for domain `domain`: 9000 with `total
 * outstanding KCV(8)` (10 bytes, DKEK) or those 10 bytes followed by a
 * domain UID (XKEK; 1..HSM_DOMAIN_UID_MAX bytes). Any other SW, or data
 * that is not one of these, is -1 naming the domain. */
#define HSM_DOMAIN_UID_MAX 256
int hsm_parse_key_domain(const uint8_t *data, size_t len, uint16_t sw, uint8_t domain,
			 hsm_key_domain *out, enum hsm_domain_answer *ans, smk_err *e);
/* Set can_import from d[0 .. count). */
void hsm_domain_state_finish(hsm_domain_state *st);
/* Whether a key on this device may have come in through UNWRAP KEY, as far
 * as the state st says: true when a domain is set up (can_import) and when
 * the state is not reported (6A86, 6D00, 6E00 for domain 0: the card did
 * not say). False only when the card reports its domains and none is set
 * up -- and that only for the moment of the query. */
bool hsm_domain_may_import(const hsm_domain_state *st);

/* ---- SELECT of a key object with FCP: the algorithm list (ref §2.8) ---- */

/* `00 A4 00 00 02 CC<id> 00`: select the key object and ask for its FCP. */
void hsm_build_select_key(apdu *a, uint8_t fid[2], uint8_t key_id);

/* Parse the answer to hsm_build_select_key. The algorithm list is DO 91
 * (1..SMK_ALG_LIST_MAX bytes, as in the GAKP, ref §6.2) inside the
 * proprietary template A5 of the FCP `62`; A5 without 91 reports a key with
 * no list (*reported true, *n 0: unrestricted). *reported is false when
 * the card reports nothing: SELECT refused with 6A82 / 6A86 / 6D00 / 6E00
 * / 6981 / 6982, no data, or an FCP without A5. Malformed FCPs (not
 * exactly one 62, broken TLV, A5 or 91 twice, 91 empty or too long) and
 * any other SW are -1. */
int hsm_parse_key_fcp_algs(const uint8_t *data, size_t len, uint16_t sw, uint8_t key_id,
			   uint8_t algs[SMK_ALG_LIST_MAX], size_t *n, bool *reported, smk_err *e);

/* ---- GET CHALLENGE (ref §7.5) ---- */

int hsm_build_get_challenge(apdu *a, size_t n, smk_err *e); /* n 1..1024 */
int hsm_parse_challenge(const uint8_t *data, size_t len, uint16_t sw, size_t n, smk_err *e);

/* ---- INITIALIZE DEVICE (ref §7.6) ---- */

typedef struct hsm_init_params {
	uint16_t options;
	const uint8_t *pin; /* 6..16 bytes */
	size_t pin_len;
	const uint8_t *so_pin; /* HSM_SOPIN_LEN bytes (initialisation code) */
	uint8_t retry_counter; /* 1..10; 0 = leave out */
	bool has_dkek_shares;
	uint8_t dkek_shares;
	uint8_t key_domains; /* 0 = leave out */
} hsm_init_params;

/* data is marked secret: it holds both PINs. */
int hsm_build_initialize(apdu *a, smk_buf *data, const hsm_init_params *p, smk_err *e);
/* Card side; pin and so_pin point into data. */
int hsm_parse_initialize_cmd(const uint8_t *data, size_t len, hsm_init_params *out, smk_err *e);

/* ---- GENERATE ASYMMETRIC KEY PAIR (ref §6) ---- */

#define HSM_OID_LEN 10
/* id-TA-ECDSA-SHA-256 and id-TA-RSA-v1-5-SHA-256 (ref §3.5) */
extern const uint8_t hsm_oid_ecdsa_sha256[HSM_OID_LEN];
extern const uint8_t hsm_oid_rsa_v15_sha256[HSM_OID_LEN];

#define HSM_REF_MAX 16 /* CAR / CHR characters */

/* What a GAKP asks for. Builders read it; the card-side parser fills it. */
typedef struct hsm_keyspec {
	enum smk_keytype type; /* SMK_KEY_EC or SMK_KEY_RSA */
	const smk_curve *curve;
	unsigned rsa_bits;
	bool rsa_legacy_ok;	   /* builder: accept 1024/1536; parser: set when one was asked */
	uint8_t oid[HSM_OID_LEN];  /* id-TA-* of the request; all zero = the default for the type */
	char car[HSM_REF_MAX + 1]; /* inner CAR; "" = leave out */
	char chr[HSM_REF_MAX + 1];
	char outer_car[HSM_REF_MAX + 1]; /* tag 45; "" = leave out */
	uint32_t use_counter;		 /* 0 = leave out */
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t alg_count; /* 0 = no list: the key may do everything (unrestricted) */
	bool has_key_domain;
	uint8_t key_domain;
} hsm_keyspec;

/* The 7F49 public-key template alone (OID and domain parameters, or
 * exponent and modulus size), appended to out; k is not validated. */
int hsm_encode_key_template(smk_buf *out, const hsm_keyspec *k, smk_err *e);
/* The metadata DOs 90 / 91 / 92 that follow the CHR, appended to out. */
int hsm_encode_key_meta(smk_buf *out, const hsm_keyspec *k, smk_err *e);
/* The command data alone (ref §6.2), appended to out. */
int hsm_encode_gakp_data(smk_buf *out, const hsm_keyspec *k, smk_err *e);
/* `00 46 key_id signer_id Lc data Le`; with extended_le the Le is 0000 and
 * the CV request comes back in the answer; without it there is no Le (read
 * CE|key_id afterwards) and the data must fit a short APDU. */
int hsm_build_gakp(apdu *a, smk_buf *data, uint8_t key_id, uint8_t signer_id, const hsm_keyspec *k,
		   bool extended_le, smk_err *e);
/* Card side: parse GAKP command data into k (curve matched by parameters). */
int hsm_parse_gakp_data(const uint8_t *data, size_t len, hsm_keyspec *k, smk_err *e);
/* The answer must be one `67` TLV (the authenticated CV request), or empty
 * when no Le was sent (*req_len 0). */
int hsm_parse_gakp_response(const uint8_t *data, size_t len, uint16_t sw, const uint8_t **req,
			    size_t *req_len, smk_err *e);

/* ---- SIGN, DECIPHER, ECDH (ref §7.7, §7.8) ---- */

/* The largest command APDU, as it travels (protected under SM), that every
 * genuine USB SmartCard-HSM generation takes: the JCOP 3 APDU buffer
 * (ref §7.12). SIGN is never chained, so this bounds its input. */
#define HSM_APDU_MAX 1232

/* `80 68 key alg Lc input Le`; alg must be a signing algorithm. The apdu
 * points at input. */
int hsm_build_sign(apdu *a, uint8_t key_id, uint8_t alg, const uint8_t *input, size_t len,
		   bool extended, smk_err *e);
/* ECDSA answer `30{02 r, 02 s}` -> plain r||s, each order_len bytes. */
int hsm_parse_sign_ecdsa(const uint8_t *data, size_t len, uint16_t sw, size_t order_len,
			 uint8_t *rs, smk_err *e);
/* RSA answer: exactly modulus_len bytes. */
int hsm_parse_sign_rsa(const uint8_t *data, size_t len, uint16_t sw, size_t modulus_len,
		       smk_err *e);
int hsm_ecdsa_der_to_plain(const uint8_t *der, size_t len, size_t order_len, uint8_t *rs,
			   smk_err *e);
int hsm_ecdsa_plain_to_der(const uint8_t *rs, size_t rs_len, smk_buf *out, smk_err *e);

/* `80 62 key alg Lc input Le` for the RSA decipher algorithms (21, 22, 23). */
int hsm_build_decipher(apdu *a, uint8_t key_id, uint8_t alg, const uint8_t *input, size_t len,
		       bool extended, smk_err *e);
/* `80 62 key 80 Lc 04||x||y Le` */
int hsm_build_ecdh(apdu *a, uint8_t key_id, const uint8_t *point, size_t len, bool extended,
		   smk_err *e);
/* ECDH answer `04||x` or `04||x||y` (ref §10 q.7) -> x, field_len bytes. */
int hsm_parse_ecdh(const uint8_t *data, size_t len, uint16_t sw, size_t field_len, uint8_t *x,
		   smk_err *e);

#endif
