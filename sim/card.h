/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey-sim: a SmartCard-HSM simulator. This header is the in-process API:
 * one card object, fed with command APDUs, answering with response APDUs, as
 * genuine firmware >= 2.0 does (protocol reference §1-§7, differences to
 * pico-hsm in §9). The same object sits behind pcscd through vpcd (vpcd.h).
 *
 * Threading: a card object is not locked. Use it from one thread at a time;
 * it may be handed to another thread between calls.
 */
#ifndef SMK_SIM_CARD_H
#define SMK_SIM_CARD_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "common/err.h"

typedef struct sim_card sim_card;

/* What sim_card_transmit did with a command. */
enum sim_result {
	SIM_ANSWERED = 0, /* resp holds the response APDU (data || SW1 SW2) */
	SIM_RESET = 1,	  /* a fault reset the card: no answer, volatile state gone */
	SIM_REMOVED = 2,  /* a fault removed the card: no answer until sim_card_reset */
};

/* Defaults of a fresh card and of `smkey-sim init`. */
#define SIM_DEFAULT_PIN "648219"
#define SIM_DEFAULT_SOPIN_HEX "3537363231383830"

/* The simulator's own device PKI (country code ZZ is user-assigned in ISO
 * 3166: never a production CardContact name). */
#define SIM_ROOT_CHR "ZZSIMRCA00001"
#define SIM_DICA_CHR "ZZSIMDI000001"

/* A card with no state file, no device PKI and no PINs (as a blank chip
 * before `init`). NULL when out of memory. */
sim_card *sim_card_new(void);
void sim_card_free(sim_card *c);

/* Load a card from its state file; later changes are written back to it
 * (temporary file, fsync, rename) after every command that changes
 * persistent state. */
sim_card *sim_card_load(const char *path, smk_err *e);
/* Write the state now; with path NULL to the file the card was loaded from
 * or last saved to. */
int sim_card_save(sim_card *c, const char *path, smk_err *e);

/* The simulator CA: a test root (CHR ZZSIMRCA00001) and a DICA
 * (ZZSIMDI000001) on brainpoolP256r1. Cards issued from one CA chain to
 * one root, as genuine devices chain to DESRCACC100001. */
typedef struct sim_ca sim_ca;
sim_ca *sim_ca_new(smk_err *e);
/* The CA file holds the private keys: created mode 0600, never overwritten. */
int sim_ca_save(const sim_ca *ca, const char *path, smk_err *e);
sim_ca *sim_ca_load(const char *path, smk_err *e);
/* The root CVC (what a host pins). */
const uint8_t *sim_ca_root(const sim_ca *ca, size_t *n);
void sim_ca_free(sim_ca *ca);

/* Give a fresh card its device PKI: a DevAut key on brainpoolP256r1 and
 * EF 2F02 = device certificate || DICA certificate, as genuine devices lay
 * them out (reference §8.2). ca NULL makes a CA for this card alone.
 * device_no (0..99999) makes the device CHR "ZZSIM" + 5 digits + "00000".
 * If root_out is not NULL the root CVC is appended to it. */
int sim_card_init_pki(sim_card *c, const sim_ca *ca, unsigned device_no, smk_buf *root_out,
		      smk_err *e);

/* Set user PIN and SO-PIN as INITIALIZE DEVICE does (option 0001: RESET
 * RETRY COUNTER allowed; 3 tries). */
int sim_card_set_pins(sim_card *c, const uint8_t *pin, size_t n, const uint8_t sopin[8],
		      smk_err *e);

/* Process one command APDU. resp is reset first. Returns an enum
 * sim_result, or -1 when out of memory (resp then holds nothing). */
int sim_card_transmit(sim_card *c, const uint8_t *cmd, size_t n, smk_buf *resp);

/* Power-on / warm reset: ends secure messaging, forgets the PIN, deselects
 * the applet, and reinserts a card removed by a fault. */
void sim_card_reset(sim_card *c);

/* The ATR of genuine USB tokens (reference §1.3). */
const uint8_t *sim_card_atr(size_t *n);

/* The device CHR ("ZZSIM0000100000"), or "" before init. */
const char *sim_card_chr(const sim_card *c);

/* Content of an EF as stored (no APDU, no access rules): 0, or -1 if the
 * card has no such EF. For tests and `smkey-sim show`. */
int sim_card_read_ef(const sim_card *c, uint16_t fid, smk_buf *out);
/* A human summary: CHR, PIN tries, keys with their restrictions, EFs.
 * Never PINs or key material. */
void sim_card_describe(const sim_card *c, FILE *f);

/* ---- key domains, key blobs, and behaviour beyond genuine firmware ---- */

/* UNWRAP KEY also writes a fresh authenticated CV request (signed by the
 * device key, as for a generated key) into CE|id, as an independent
 * SmartCard-HSM implementation does. Genuine firmware: not known. Off by
 * default; not saved in the state file. */
void sim_card_set_attest_imports(sim_card *c, bool on);
/* SELECT of a key object CC|id with FCP answers `62 { 82 01 18, 83 FID,
 * A5 { [91 algorithm list] } }`. Off by default (genuine firmware: not
 * known; the default answers 6A82 as for any FID that is not an EF). */
void sim_card_set_fcp_algorithms(sim_card *c, bool on);

/* Make domain (0 .. configured domains - 1) an XKEK domain with this UID
 * (1..128 bytes). The membership protocol of MANAGE KEY DOMAIN P1 02 is not
 * simulated; this is how tests get the XKEK state. */
int sim_card_set_xkek_domain(sim_card *c, uint8_t domain, const uint8_t *uid, size_t n, smk_err *e);

/* The SmartCard-HSM DKEK key blob (docs/simulator.md "Key blobs"), as
 * WRAP KEY returns it and UNWRAP KEY takes it: KCV, key type, algorithm
 * OID, allowed algorithms, then the key AES-256-CBC encrypted under
 * SHA-256(DKEK || 00000001) and a CMAC under SHA-256(DKEK || 00000002).
 * EC keys of the curves in sm/curves.h and RSA keys (type 5: d, n, e).
 * key must have its private part. */
#define SIM_DKEK_KCV_LEN 8
void sim_dkek_kcv(const uint8_t dkek[32], uint8_t kcv[SIM_DKEK_KCV_LEN]);
int sim_dkek_wrap(const uint8_t dkek[32], EVP_PKEY *key, const uint8_t *algs, size_t n_algs,
		  smk_buf *out, smk_err *e);
/* *key is new, the caller frees it; algs holds up to 16. */
int sim_dkek_unwrap(const uint8_t dkek[32], const uint8_t *blob, size_t n, EVP_PKEY **key,
		    uint8_t algs[16], size_t *n_algs, smk_err *e);

/* ---- statistics and the APDU log (log.c) ---- */

typedef struct sim_stats {
	unsigned long apdus;	 /* every command APDU received */
	unsigned long plain, sm; /* of which in plain / under secure messaging */
	unsigned long bytes_in, bytes_out;
	unsigned long sm_errors; /* protected commands refused (6988) */
	unsigned long faults;	 /* faults fired */
	unsigned long plain_by_ins[256], sm_by_ins[256];
} sim_stats;

const sim_stats *sim_card_stats(const sim_card *c);
void sim_card_stats_reset(sim_card *c);
/* Name of a command by INS ("gakp", "verify", ... or "ins-XX"). */
const char *sim_cmd_name(uint8_t ins);
/* Append one JSON line per APDU to f (headers and SWs only, never data: the
 * data may hold a PIN). f stays the caller's; NULL stops logging. */
void sim_card_set_log(sim_card *c, FILE *f);
/* The counters as one JSON object (docs/simulator.md). */
int sim_card_write_stats(const sim_card *c, FILE *f);

/* ---- behaviours of other firmware (faults.c), off by default ---- */

/* What other SmartCard-HSM implementations were seen to do where genuine
 * firmware does otherwise or the spec leaves room (docs/simulator.md);
 * `smkey-sim run --quirk NAME`. Not saved in the state file. */
enum sim_quirk {
	/* GAKP without tag 42: the request's inner CAR is the device CHR (a
	 * sent CAR is echoed, as always) */
	SIM_QUIRK_CAR_FROM_DEVICE = 1u << 0,
	/* plain READ BINARY 2F02: at most 256 bytes and SW 61xx while more is
	 * left; the rest comes by GET RESPONSE (00 C0 00 00 xx) */
	SIM_QUIRK_READ_61XX = 1u << 1,
};

/* "car-from-device" or "read-61xx" into *flag. */
int sim_quirk_parse(const char *name, unsigned *flag, smk_err *e);
void sim_card_set_quirks(sim_card *c, unsigned quirks);

/* ---- fault injection (faults.c) ---- */

enum sim_fault_action {
	SIM_FAULT_RESET,  /* card resets instead of answering */
	SIM_FAULT_REMOVE, /* card is pulled instead of answering; arg = ms away (vpcd) */
	SIM_FAULT_LATE,	  /* the answer comes arg ms late */
	SIM_FAULT_BADMAC, /* protected answer with a corrupted MAC */
	SIM_FAULT_PLAIN,  /* answer in plain: SM session ends */
	SIM_FAULT_SW,	  /* do not execute; answer with SW arg */
	/* execute, but the answer is replaced by SW arg in plain, as an attacker
	 * between host and card would: the card's SM session goes on */
	SIM_FAULT_PLAIN_SW,
};

typedef struct sim_fault {
	unsigned long at_apdu; /* fire on APDU number N (1-based, see stats.apdus), or 0 */
	char cmd[16];	       /* or on the next command of this name ("gakp"), or "" */
	enum sim_fault_action action;
	unsigned arg;
	unsigned times; /* how often it fires; 0 = every time */
} sim_fault;

/* Parse "TRIGGER:ACTION[:times=N]" (docs/simulator.md), e.g.
 * "apdu=7:reset", "apdu=+2:remove=1500", "cmd=gakp:sw=6F00", "cmd=sign:late=300",
 * "cmd=verify:badmac", "cmd=read:plain:times=0", "cmd=gakp:plainsw=6982". "apdu=+N" is relative to
 * the APDUs the card has seen so far (cur). */
int sim_fault_parse(const char *spec, unsigned long cur, sim_fault *f, smk_err *e);
int sim_card_add_fault(sim_card *c, const sim_fault *f, smk_err *e);
void sim_card_clear_faults(sim_card *c);
/* Milliseconds a SIM_REMOVED card stays out (vpcd mode); set when it fires. */
unsigned sim_card_removed_ms(const sim_card *c);

/* For fuzzing (tests/fuzz/fuzz_session.c): fn sees the plain answer (data ||
 * SW1 SW2) of every command run under secure messaging, before the card
 * protects it, and may rewrite it; the card protects what fn leaves (an
 * answer shorter than SW1 SW2 becomes 6F00). NULL removes the filter. */
typedef void (*sim_sm_filter_fn)(void *ctx, uint8_t ins, smk_buf *answer);
void sim_card_set_sm_filter(sim_card *c, sim_sm_filter_fn fn, void *ctx);

/* ---- latency model (faults.c) ---- */

typedef struct sim_latency {
	unsigned apdu_ms;   /* every APDU */
	unsigned byte_us;   /* per byte in and out (the T=1 link) */
	unsigned sign_ms;   /* SIGN / ECDH */
	unsigned ec_ms[3];  /* EC keygen: field <= 256, <= 384, larger bits */
	unsigned rsa_ms[5]; /* RSA keygen 1024, 1536, 2048, 3072, 4096 */
} sim_latency;

/* "off", "genuine", or a comma list like "apdu=10,rsa2048=6000" that
 * changes single values of *l. */
int sim_latency_parse(const char *spec, sim_latency *l, smk_err *e);
/* Off unless set. The card sleeps in sim_card_transmit until the modelled
 * time has passed. */
void sim_card_set_latency(sim_card *c, const sim_latency *l);

#endif
