/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the simulated card: the card object and the command handlers, shared
 * by the files of sim/ only. Handlers take the plain (unprotected) command,
 * append response data to out and return the status word.
 */
#ifndef SMK_SIM_INT_H
#define SMK_SIM_INT_H

#include <jansson.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "sim/card.h"
#include "sm/apdu.h"
#include "sm/smsg.h"

#define SIM_MAX_FILES 1024
#define SIM_MAX_DOMAINS 16
#define SIM_MAX_FAULTS 32
#define SIM_FW_MAJOR 4
#define SIM_FW_MINOR 1

/* FID prefixes (reference §2.1) */
#define SIM_PFX_KEY 0xCC
#define SIM_PFX_PRKD 0xC4
#define SIM_PFX_CERT 0xCE
#define SIM_PFX_PRIVDATA 0xCD
#define SIM_FID_DEVAUT 0x2F02

/* status words the handlers answer with */
#define SW_OK 0x9000
#define SW_EOF 0x6282
#define SW_WRONG_LENGTH 0x6700
#define SW_SM_UNSUPPORTED 0x6882
#define SW_SECURITY 0x6982
#define SW_PIN_BLOCKED 0x6983
#define SW_REF_UNUSABLE 0x6984 /* transport PIN / use counter exhausted */
#define SW_CONDITIONS 0x6985
#define SW_NOT_ALLOWED 0x6986
#define SW_SM_INCORRECT 0x6988
#define SW_WRONG_DATA 0x6A80
#define SW_FUNC_UNSUPPORTED 0x6A81 /* algorithm not in the key's list */
#define SW_NOT_FOUND 0x6A82
#define SW_NO_MEMORY 0x6A84
#define SW_WRONG_P1P2 0x6A86
#define SW_REF_NOT_FOUND 0x6A88
#define SW_WRONG_PARAMS 0x6B00
#define SW_INS_UNSUPPORTED 0x6D00
#define SW_CLA_UNSUPPORTED 0x6E00
#define SW_UNKNOWN 0x6F00

struct sim_file {
	uint16_t fid;
	smk_buf data;
};

struct sim_key {
	uint8_t id;
	int type; /* SMK_KEY_EC / SMK_KEY_RSA */
	EVP_PKEY *pkey;
	uint8_t algs[16]; /* tag 91; n_algs 0 = every algorithm of the key type */
	size_t n_algs;
	bool has_counter; /* tag 90 */
	uint32_t counter;
	bool has_domain; /* tag 92 */
	uint8_t domain;
};

#define SIM_DKEK_LEN 32
#define SIM_UID_MAX 128
#define SIM_FID_UNWRAP 0x2F10 /* where OpenSC puts a blob for UNWRAP KEY (reference §2.1) */

struct sim_domain {
	bool present;
	bool xkek; /* an XKEK domain (set up through sim_card_set_xkek_domain only) */
	uint8_t shares_total, shares_left;
	bool has_dkek;		    /* a share was imported, or the DKEK is random */
	uint8_t dkek[SIM_DKEK_LEN]; /* XOR of the shares imported so far */
	uint8_t uid[SIM_UID_MAX];   /* XKEK: the key domain UID */
	size_t uid_len;
};

struct sim_card {
	char *state_path;

	/* persistent: saved in the state file */
	char chr[17]; /* device CHR from the DevAut certificate */
	bool initialized;
	uint16_t options;
	uint8_t pin[16];
	size_t pin_len;
	uint8_t pin_max, pin_left;
	bool transport_pin;
	uint8_t sopin[8];
	uint8_t so_left;
	uint8_t n_domains;
	struct sim_domain domains[SIM_MAX_DOMAINS];
	struct sim_file *files;
	size_t n_files;
	struct sim_key *keys[256]; /* keys[0] = PrK.DevAut */

	/* volatile: lost on reset */
	bool removed;
	bool selected;
	uint16_t cur_ef;
	bool pin_ok;
	bool ca_selected; /* MSE SET AT named the CA protocol */
	smsg_ctx *sm;	  /* non-NULL while secure messaging is up */
	bool sm_busy;	  /* a protected command is running: keep sm until wrapped */
	bool sm_end_due;  /* ... and drop it afterwards */
	bool dirty;	  /* persistent state changed by this command */

	/* observation and faults */
	sim_stats stats;
	FILE *log;
	sim_fault faults[SIM_MAX_FAULTS];
	size_t n_faults;
	unsigned removed_ms;
	sim_latency latency;
	unsigned extra_ms; /* latency the current command's handler asked for */
	sim_sm_filter_fn sm_filter;
	void *sm_filter_ctx;

	/* behaviour beyond genuine firmware's, off by default (not saved) */
	bool attest_imports;  /* UNWRAP KEY writes an authenticated request into CE|id */
	bool fcp_algs;	      /* SELECT CC|id answers an FCP with the algorithm list */
	unsigned quirks;      /* enum sim_quirk */
	smk_buf get_response; /* SIM_QUIRK_READ_61XX: what GET RESPONSE still has */
};

/* A command's handler (card.c dispatches by INS): the status word it
 * answers, with any response data appended to out. */
typedef uint16_t sim_cmd_fn(sim_card *c, const apdu *a, smk_buf *out);

/* files.c */
struct sim_file *sim_file_find(sim_card *c, uint16_t fid);
int sim_file_put(sim_card *c, uint16_t fid, const uint8_t *p, size_t n);
void sim_file_delete(sim_card *c, uint16_t fid);
void sim_files_wipe(sim_card *c); /* everything but the device key and 2F02 */
sim_cmd_fn sim_cmd_select, sim_cmd_enumerate, sim_cmd_read, sim_cmd_update, sim_cmd_delete,
    sim_cmd_get_response;

/* pin.c */
sim_cmd_fn sim_cmd_verify, sim_cmd_change, sim_cmd_reset_retry, sim_cmd_initialize,
    sim_cmd_challenge, sim_cmd_domain;
int sim_pin_set(sim_card *c, const uint8_t *pin, size_t n, uint8_t tries);

/* gakp.c */
sim_cmd_fn sim_cmd_gakp;
/* The authenticated CV request for key k (CHR chr, inner CAR car or NULL),
 * signed by PrK.DevAut, into areq. 0 or -1. */
int sim_authreq(sim_card *c, const struct sim_key *k, const char *car, const char *chr,
		smk_buf *areq);

/* dkek.c: key domains with their DKEK, WRAP KEY, UNWRAP KEY */
void sim_domain_kcv(const struct sim_domain *d, uint8_t kcv[8]);
/* The domain's DKEK is complete: every share imported (or random). */
bool sim_domain_complete(const struct sim_domain *d);
sim_cmd_fn sim_cmd_wrap, sim_cmd_unwrap;

/* state.c: binary values in JSON are hex strings */
json_t *sim_hex_json(const uint8_t *p, size_t n);
/* o[key] as hex, min..max bytes, into out (reset first). */
int sim_json_hex(json_t *o, const char *key, smk_buf *out, size_t min, size_t max, smk_err *e);

/* keys.c */
void sim_key_free(struct sim_key *k);
void sim_keys_wipe(sim_card *c); /* all keys but the device key */
/* *k becomes the card's key id, replacing any key there (reference §6.1),
 * with ce (when not NULL) in EF CE|id; *k is NULL after SW_OK. */
uint16_t sim_key_install(sim_card *c, uint8_t id, struct sim_key **k, const smk_buf *ce);
EVP_PKEY *sim_keygen_ec(int nid);
EVP_PKEY *sim_keygen_rsa(unsigned bits);
sim_cmd_fn sim_cmd_sign, sim_cmd_decipher;

/* secure.c: chip authentication and the card side of secure messaging */
sim_cmd_fn sim_cmd_mse, sim_cmd_ga;
/* Answer a protected command: unwrap, run, wrap. Fills *sw with the inner SW
 * (or the SM error answered in plain). 0, or -1 when out of memory. */
int sim_sm_transmit(sim_card *c, const uint8_t *cmd, size_t n, const sim_fault *f, smk_buf *resp,
		    uint16_t *sw);
/* Drop the session keys (reset, reselect, plain APDU, SM error). */
void sim_sm_end(sim_card *c);

/* card.c: run an unprotected command (honours a SIM_FAULT_SW fault) */
int sim_card_run_plain(sim_card *c, const apdu *a, const sim_fault *f, smk_buf *out, uint16_t *sw);

/* log.c */
void sim_log_apdu(sim_card *c, const apdu *a, bool sm, size_t in, size_t out, uint16_t sw,
		  const char *fault);

/* faults.c */
const sim_fault *sim_fault_match(sim_card *c, uint8_t ins);
void sim_latency_wait(sim_card *c, const struct timespec *start, size_t bytes);
unsigned sim_latency_keygen_ms(const sim_card *c, int type, unsigned bits);

#endif
