/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card session (sm/session.h) against a "fuzzing card": a transport
 * whose answers come from the input, as OpenSC's fuzzing reader does. It
 * runs what the daemon's worker runs: session_open (SELECT, EF 2F02, chain
 * validation, chip authentication, PIN under SM), session_generate (free id,
 * GAKP under SM, request check, PrKD write), session_sign, session_list_keys.
 *
 * First byte, bit 0:
 *   0  script: every answer is the next length-prefixed piece of the input
 *      (2-byte big-endian length, then the bytes; the script ending is an I/O
 *      error). The chain is validated on a fixed day, so the genuine
 *      DENK0404144 chain of a recorded answer validates; chip authentication
 *      then stops a script without the device's key.
 *   1  simulator: the answers come from the real simulator (sim/card.h) and
 *      the input is a list of mutations, each
 *          index (1 byte)  which answer, counted from 0 over the run
 *          op (1 byte)     see mutate()
 *          pos (2 bytes)   byte position, length or status word
 *          n (1 byte), n bytes
 *      Answers under secure messaging are mutated in plain before the card
 *      protects them (sim_card_set_sm_filter), so the fuzzer reaches the
 *      parsers behind SM: GAKP, ENUMERATE, READ BINARY, SIGN, UPDATE BINARY.
 *      Ops 6 and 7 act on the transport (an error instead of the answer, a
 *      flipped byte of the protected answer).
 *
 * Invariants: no GAKP, VERIFY or SIGN ever reaches the card in plain (the
 * simulator's counters); a generated key is what was asked (P-256 with its
 * CHR, key id 1..255, request `67`); list_keys is ascending.
 *
 * FZ_SESSION_RECORD=FILE with a simulator input writes the answers of that
 * run as a script-mode input (how corpus/fuzz_session/script-* was made).
 */
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "sim/card.h"
#include "sm/alg.h"
#include "sm/curves.h"
#include "sm/session.h"

#define MAX_MUT 16

struct mut {
	uint8_t index, op;
	uint16_t pos;
	const uint8_t *bytes;
	size_t n;
};

struct fcard {
	sim_card *card; /* NULL: script mode */
	fz_in script;
	struct mut muts[MAX_MUT];
	size_t nmut;
	unsigned index; /* answers so far */
	int in_transmit, filtered;
	FILE *record;
};

static trust_store trust;
static sim_ca *ca;
static smk_pin_source pin;

static char tmp_dir[64], pin_path[4096];

/* the PIN file lives only as long as the fuzzer */
static void remove_tmp(void)
{
	unlink(pin_path);
	rmdir(tmp_dir);
}

static void setup(void)
{
	char path[4096];
	size_t len;
	smk_buf root = SMK_BUF_INIT;
	const uint8_t *r;
	size_t n;
	smk_err e;
	FILE *f;

	fz_trust(&trust);
	/* one fixed test CA, so that recorded scripts chain to a pinned root */
	snprintf(path, sizeof(path), "%s/tests/fuzz/fixtures/sim-ca", fz_source_dir());
	ca = sim_ca_load(path, &e);
	if (ca == NULL)
		fz_die("simulator CA", &e);
	r = sim_ca_root(ca, &n);
	if (smk_buf_add(&root, r, n) < 0 || trust_add(&trust, root.data, root.len, "sim", &e) < 0)
		fz_die("simulator root", &e);
	smk_buf_free(&root);
	/* mkdtemp replaces the six 'X' that end the template */
	len = (size_t)snprintf(tmp_dir, sizeof(tmp_dir), "/tmp/smk-fuzz-session.");
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
	/* the PIN source re-reads the file at every VERIFY */
}

/* Apply m to an answer (data || SW1 SW2 when it has them). */
static void mutate(const struct mut *m, smk_buf *a)
{
	size_t dlen = a->len >= 2 ? a->len - 2 : a->len;
	uint8_t sw[2] = {0, 0};
	smk_buf out = SMK_BUF_INIT;
	size_t keep, p;
	int has_sw = a->len >= 2;

	if (has_sw)
		memcpy(sw, a->data + dlen, 2);
	switch (m->op % 6) {
	case 0: /* flip bits of one data byte */
		if (dlen > 0)
			a->data[m->pos % dlen] ^= m->n ? m->bytes[0] : 0xFF;
		return;
	case 1: /* cut the data */
		keep = m->pos < dlen ? m->pos : dlen;
		FZ_CHECK(smk_buf_add(&out, a->data, keep) == 0);
		break;
	case 2: /* another status word */
		FZ_CHECK(smk_buf_add(&out, a->data, dlen) == 0);
		sw[0] = (uint8_t)(m->pos >> 8);
		sw[1] = (uint8_t)m->pos;
		has_sw = 1;
		break;
	case 3: /* insert bytes */
		p = dlen ? m->pos % (dlen + 1) : 0;
		FZ_CHECK(smk_buf_add(&out, a->data, p) == 0);
		FZ_CHECK(smk_buf_add(&out, m->bytes, m->n) == 0);
		FZ_CHECK(smk_buf_add(&out, a->data + p, dlen - p) == 0);
		break;
	case 4: /* other data */
		FZ_CHECK(smk_buf_add(&out, m->bytes, m->n) == 0);
		break;
	default: /* more data */
		FZ_CHECK(smk_buf_add(&out, a->data, dlen) == 0);
		FZ_CHECK(smk_buf_add(&out, m->bytes, m->n) == 0);
		/* ... a lot more: up to an answer no card gives (extended
		 * length's 65,536 + SW), not more, or several such mutations of
		 * one answer multiply it past the fuzzer's memory limit */
		if (m->pos & 1)
			for (p = 0; p < (size_t)(m->pos >> 1) % 64 && out.len + dlen <= 65538; p++)
				FZ_CHECK(smk_buf_add(&out, a->data, dlen) == 0);
		break;
	}
	if (has_sw)
		FZ_CHECK(smk_buf_add(&out, sw, 2) == 0);
	smk_buf_reset(a);
	FZ_CHECK(smk_buf_add(a, out.data, out.len) == 0);
	smk_buf_free(&out);
}

/* The card protects the answer after this (sim/secure.c). */
static void sm_filter(void *ctx, uint8_t ins, smk_buf *answer)
{
	struct fcard *fc = ctx;
	size_t i;

	(void)ins;
	FZ_CHECK(fc->in_transmit);
	fc->filtered = 1;
	for (i = 0; i < fc->nmut; i++)
		if (fc->muts[i].index == fc->index && fc->muts[i].op % 8 < 6)
			mutate(&fc->muts[i], answer);
}

static int fc_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp, unsigned timeout_ms,
		       smk_err *e)
{
	struct fcard *fc = impl;
	smk_buf a = SMK_BUF_INIT;
	size_t i, got;
	int r = 0;

	(void)timeout_ms;
	if (fc->card == NULL) {
		uint16_t len;
		const uint8_t *p;

		(void)cmd;
		(void)n;
		if (fc->script.n < 2)
			return smk_fail(e, SMK_E_IO, "fuzzing card: script ended");
		len = fz_u16(&fc->script);
		p = fz_take(&fc->script, len, &got);
		fc->index++;
		return smk_buf_add(resp, p, got) < 0 ? smk_fail(e, SMK_E_NOMEM, "out of memory")
						     : 0;
	}
	for (i = 0; i < fc->nmut; i++)
		if (fc->muts[i].index == fc->index && fc->muts[i].op % 8 == 6) {
			static const enum smk_errc kinds[] = {SMK_E_RESET, SMK_E_TIMEOUT, SMK_E_IO};

			fc->index++;
			return smk_fail(e, kinds[fc->muts[i].pos % 3], "fuzzing card: fault");
		}
	fc->in_transmit = 1;
	fc->filtered = 0;
	r = sim_card_transmit(fc->card, cmd, n, &a);
	fc->in_transmit = 0;
	if (r == SIM_ANSWERED) {
		for (i = 0; i < fc->nmut; i++) {
			const struct mut *m = &fc->muts[i];

			if (m->index != fc->index)
				continue;
			if (m->op % 8 == 7 && a.len > 0)
				a.data[m->pos % a.len] ^= 0x01;
			else if (m->op % 8 < 6 && !fc->filtered)
				mutate(m, &a);
		}
		if (fc->record) {
			uint8_t l[2] = {(uint8_t)(a.len >> 8), (uint8_t)a.len};

			fwrite(l, 1, 2, fc->record);
			fwrite(a.data, 1, a.len, fc->record);
		}
		r = smk_buf_add(resp, a.data, a.len) < 0 ? smk_fail(e, SMK_E_NOMEM, "out of memory")
							 : 0;
	} else if (r == SIM_RESET || r == SIM_REMOVED) {
		r = smk_fail(e, SMK_E_RESET, "fuzzing card: reset");
	} else {
		r = smk_fail(e, SMK_E_NOMEM, "simulator: out of memory");
	}
	fc->index++;
	smk_buf_free(&a);
	return r;
}

static int fc_reconnect(void *impl, int reset, unsigned timeout_ms, smk_err *e)
{
	struct fcard *fc = impl;

	(void)reset;
	(void)timeout_ms;
	(void)e;
	if (fc->card)
		sim_card_reset(fc->card);
	return 0;
}

static const char *fc_name(void *impl)
{
	(void)impl;
	return "fuzzing card";
}

static const uint8_t *fc_atr(void *impl, size_t *len)
{
	(void)impl;
	return sim_card_atr(len);
}

static void fc_close(void *impl)
{
	(void)impl;
}

static const struct smk_transport_ops fc_ops = {
    .transmit = fc_transmit,
    .reconnect = fc_reconnect,
    .name = fc_name,
    .atr = fc_atr,
    .close = fc_close,
};

static time_t fixed_day(void)
{
	return fz_day();
}

static sim_card *new_card(void)
{
	static const uint8_t sopin[8] = {0x35, 0x37, 0x36, 0x32, 0x31, 0x38, 0x38, 0x30};
	sim_card *c = sim_card_new();
	smk_err e;

	if (c == NULL || sim_card_init_pki(c, ca, 7, NULL, &e) < 0 ||
	    sim_card_set_pins(c, (const uint8_t *)SIM_DEFAULT_PIN, strlen(SIM_DEFAULT_PIN), sopin,
			      &e) < 0)
		fz_die("simulator card", &e);
	return c;
}

/* FZ_VERBOSE=1: say how far an input got (to check that seeds do). */
static int why(const char *what, int rc, const smk_err *e)
{
	static int verbose = -1;

	if (verbose < 0)
		verbose = getenv("FZ_VERBOSE") != NULL;
	if (verbose)
		fprintf(stderr, "%s: %s\n", what, rc == 0 ? "ok" : e->msg);
	return rc;
}

static void run(smk_session *s)
{
	session_keygen g;
	session_key k;
	smk_buf sig = SMK_BUF_INIT;
	uint8_t ids[255], digest[32];
	size_t n, i;
	smk_err e;

	if (why("open", session_open(s, &e), &e) < 0)
		return;
	FZ_CHECK(session_chain(s) != NULL);
	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZSIMFUZZ00001");
	g.spec.algs[g.spec.alg_count++] = alg_by_name("ecdsa-sha256")->id;
	g.label = "fuzz";
	memset(&k, 0, sizeof(k));
	if (why("generate", session_generate(s, &g, &k, &e), &e) == 0) {
		FZ_CHECK(k.key_id >= 1);
		FZ_CHECK(k.cvreq.len > 0 && k.cvreq.data[0] == 0x67);
		FZ_CHECK(k.att.type == SMK_KEY_EC && k.att.curve == g.spec.curve);
		FZ_CHECK(strcmp(k.att.chr, "ZZSIMFUZZ00001") == 0 && k.att.key != NULL);
		memset(digest, 0x5A, sizeof(digest));
		(void)why("sign",
			  session_sign(s, k.key_id, alg_by_name("ecdsa-sha256")->id, digest,
				       sizeof(digest), &sig, &e),
			  &e);
		smk_buf_free(&sig);
	}
	session_key_free(&k);
	if (why("list keys", session_list_keys(s, ids, &n, &e), &e) == 0) {
		FZ_CHECK(n <= 255);
		for (i = 0; i < n; i++)
			FZ_CHECK(ids[i] >= 1 && (i == 0 || ids[i - 1] < ids[i]));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct fcard fc;
	smk_transport *t;
	session_config cfg;
	smk_session *s = NULL;
	fz_in in = {data, size};
	const char *rec = getenv("FZ_SESSION_RECORD");
	smk_err e;

	if (!ready) {
		setup();
		ready = 1;
	}
	memset(&fc, 0, sizeof(fc));
	memset(&cfg, 0, sizeof(cfg));
	cfg.trust = &trust;
	cfg.pin = &pin;
	if ((fz_u8(&in) & 1) == 0) {
		fc.script = in;
		cfg.now = fixed_day;
	} else {
		while (in.n > 0 && fc.nmut < MAX_MUT) {
			struct mut *m = &fc.muts[fc.nmut++];

			m->index = fz_u8(&in);
			m->op = fz_u8(&in);
			m->pos = fz_u16(&in);
			m->bytes = fz_take(&in, fz_u8(&in), &m->n);
		}
		fc.card = new_card();
		sim_card_set_sm_filter(fc.card, sm_filter, &fc);
		if (rec && *rec)
			fc.record = fopen(rec, "wb");
	}
	t = calloc(1, sizeof(*t));
	FZ_CHECK(t != NULL);
	t->ops = &fc_ops;
	t->impl = &fc;
	FZ_CHECK(session_new(t, &cfg, &s, &e) == 0);
	run(s);
	session_free(s);
	if (fc.card) {
		const sim_stats *st = sim_card_stats(fc.card);

		/* docs/design.md: key generation, PIN and signatures only under SM */
		FZ_CHECK(st->plain_by_ins[0x46] == 0);
		FZ_CHECK(st->plain_by_ins[0x20] == 0);
		FZ_CHECK(st->plain_by_ins[0x68] == 0);
		sim_card_free(fc.card);
	}
	if (fc.record)
		fclose(fc.record);
	return 0;
}
