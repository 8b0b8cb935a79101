/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PINs, INITIALIZE DEVICE, GET CHALLENGE and key domains (reference §7.1-7.6,
 * §2.7). Every retry-counter change is persistent: a restarted simulator
 * must not hand out fresh tries.
 */
#include "sim/sim_int.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <string.h>

#include "sm/tlv.h"

#define PIN_MIN 6
#define PIN_MAX 16
#define SOPIN_LEN 8
#define SO_TRIES 15
#define CHALLENGE_MAX 1024

int sim_pin_set(sim_card *c, const uint8_t *pin, size_t n, uint8_t tries)
{
	if (n < PIN_MIN || n > PIN_MAX || tries == 0 || tries > 15)
		return -1;
	OPENSSL_cleanse(c->pin, sizeof(c->pin));
	memcpy(c->pin, pin, n);
	c->pin_len = n;
	c->pin_max = tries;
	c->pin_left = tries;
	return 0;
}

static bool pin_matches(const sim_card *c, const uint8_t *p, size_t n)
{
	return n == c->pin_len && CRYPTO_memcmp(p, c->pin, n) == 0;
}

/* A wrong PIN costs a try; the last one blocks (63C0, then 6983). */
static uint16_t pin_wrong(sim_card *c)
{
	c->pin_ok = false;
	if (c->pin_left > 0)
		c->pin_left--;
	c->dirty = true;
	return (uint16_t)(0x63C0 | c->pin_left);
}

static uint16_t so_check(sim_card *c, const uint8_t *so)
{
	if (c->so_left == 0)
		return SW_PIN_BLOCKED;
	if (CRYPTO_memcmp(so, c->sopin, SOPIN_LEN) != 0) {
		c->so_left--;
		c->dirty = true;
		return (uint16_t)(0x63C0 | c->so_left);
	}
	if (c->so_left != SO_TRIES) {
		c->so_left = SO_TRIES;
		c->dirty = true;
	}
	return SW_OK;
}

uint16_t sim_cmd_verify(sim_card *c, const apdu *a, smk_buf *out)
{
	(void)out;
	if (a->p1 != 0x00 || (a->p2 != 0x81 && a->p2 != 0x88))
		return SW_WRONG_P1P2;
	if (!c->initialized)
		return SW_REF_NOT_FOUND; /* reference §7.1: PIN not initialised */
	if (a->p2 == 0x88) {
		if (a->lc == 0)
			return c->so_left ? (uint16_t)(0x63C0 | c->so_left) : SW_PIN_BLOCKED;
		if (a->lc != SOPIN_LEN)
			return SW_WRONG_DATA;
		return so_check(c, a->data);
	}
	if (c->pin_left == 0)
		return SW_PIN_BLOCKED;
	if (c->transport_pin)
		return SW_REF_UNUSABLE; /* must be changed first (fw >= 2.0) */
	if (a->lc == 0)			/* status query */
		return c->pin_ok ? SW_OK : (uint16_t)(0x63C0 | c->pin_left);
	if (a->lc < PIN_MIN || a->lc > PIN_MAX)
		return SW_WRONG_DATA;
	if (!pin_matches(c, a->data, a->lc))
		return pin_wrong(c);
	c->pin_ok = true;
	if (c->pin_left != c->pin_max) {
		c->pin_left = c->pin_max;
		c->dirty = true;
	}
	return SW_OK;
}

uint16_t sim_cmd_change(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t sw;

	(void)out;
	if (a->p1 != 0x00 || (a->p2 != 0x81 && a->p2 != 0x88))
		return SW_WRONG_P1P2;
	if (!c->initialized)
		return SW_REF_NOT_FOUND;
	if (a->p2 == 0x88) { /* reference §7.2: old SO-PIN || new SO-PIN */
		if (a->lc != 2 * SOPIN_LEN)
			return SW_WRONG_DATA;
		sw = so_check(c, a->data);
		if (sw != SW_OK)
			return sw;
		memcpy(c->sopin, a->data + SOPIN_LEN, SOPIN_LEN);
		c->dirty = true;
		return SW_OK;
	}
	if (c->pin_left == 0)
		return SW_PIN_BLOCKED;
	/* old PIN || new PIN; the old one has the stored length */
	if (a->lc < c->pin_len + PIN_MIN || a->lc > c->pin_len + PIN_MAX)
		return SW_WRONG_DATA;
	if (!pin_matches(c, a->data, c->pin_len))
		return pin_wrong(c);
	if (sim_pin_set(c, a->data + c->pin_len, a->lc - c->pin_len, c->pin_max) < 0)
		return SW_WRONG_DATA;
	c->transport_pin = false;
	c->pin_ok = true;
	c->dirty = true;
	return SW_OK;
}

uint16_t sim_cmd_reset_retry(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t sw;

	(void)out;
	if ((a->p1 != 0x00 && a->p1 != 0x01) || a->p2 != 0x81)
		return SW_WRONG_P1P2;
	if (!c->initialized)
		return SW_REF_NOT_FOUND;
	if (!(c->options & 0x0001)) /* reference §7.3: allowed by option only */
		return SW_NOT_ALLOWED;
	if (a->p1 == 0x01 ? a->lc != SOPIN_LEN
			  : (a->lc < SOPIN_LEN + PIN_MIN || a->lc > SOPIN_LEN + PIN_MAX))
		return SW_WRONG_DATA;
	sw = so_check(c, a->data);
	if (sw != SW_OK)
		return sw;
	if (a->p1 == 0x00) {
		if (sim_pin_set(c, a->data + SOPIN_LEN, a->lc - SOPIN_LEN, c->pin_max) < 0)
			return SW_WRONG_DATA;
		c->transport_pin = false;
	}
	c->pin_left = c->pin_max;
	c->dirty = true;
	return SW_OK;
}

/* INITIALIZE DEVICE without data: free memory, 00, version (as pico does). */
static uint16_t init_info(smk_buf *out)
{
	static const uint8_t info[] = {0x00, 0x01, 0x00, 0x00, 0x00, SIM_FW_MAJOR, SIM_FW_MINOR};

	return smk_buf_add(out, info, sizeof(info)) < 0 ? SW_UNKNOWN : SW_OK;
}

static int domain_make_dkek(struct sim_domain *d, uint8_t shares);

uint16_t sim_cmd_initialize(sim_card *c, const apdu *a, smk_buf *out)
{
	const tlv *opt = NULL, *pin = NULL, *so = NULL, *tries = NULL, *shares = NULL,
		  *domains = NULL;
	tlv items[8];
	size_t n = 0;
	tlv_iter it;
	uint8_t nd;
	uint16_t sw;
	int r;

	if (a->p1 != 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	if (a->lc == 0)
		return init_info(out);
	/* reference §7.6: 80 options, 81 PIN, 82 SO-PIN, 91 retries, 92 DKEK
	 * shares, 97 key domains */
	tlv_iter_init(&it, a->data, a->lc);
	while ((r = tlv_next(&it, &items[n], NULL)) == 1) {
		const tlv *t = &items[n];

		switch (t->tag) {
		case 0x80:
			opt = t;
			break;
		case 0x81:
			pin = t;
			break;
		case 0x82:
			so = t;
			break;
		case 0x91:
			tries = t;
			break;
		case 0x92:
			shares = t;
			break;
		case 0x97:
			domains = t;
			break;
		case 0x93: /* public-key authentication is not simulated */
			return SW_FUNC_UNSUPPORTED;
		default:
			return SW_WRONG_DATA;
		}
		if (++n == sizeof(items) / sizeof(items[0]))
			return SW_WRONG_DATA;
	}
	if (r < 0 || pin == NULL || so == NULL || so->len != SOPIN_LEN)
		return SW_WRONG_DATA;
	if ((opt && opt->len != 2) ||
	    (tries && (tries->len != 1 || tries->value[0] == 0 || tries->value[0] > 10)) ||
	    (shares && shares->len != 1) || (domains && domains->len != 1) || pin->len < PIN_MIN ||
	    pin->len > PIN_MAX)
		return SW_WRONG_DATA;
	nd = domains ? domains->value[0] : (shares ? 1 : 0);
	if (nd > SIM_MAX_DOMAINS || (shares && nd == 0))
		return SW_WRONG_DATA;
	if (c->initialized) {
		/* re-initialisation needs the current SO-PIN as init code */
		sw = so_check(c, so->value);
		if (sw != SW_OK)
			return sw == SW_PIN_BLOCKED ? sw : SW_SECURITY;
	}
	sim_keys_wipe(c);
	sim_files_wipe(c);
	c->options = opt ? (uint16_t)(opt->value[0] << 8 | opt->value[1]) : 0;
	if (sim_pin_set(c, pin->value, pin->len, tries ? tries->value[0] : 3) < 0)
		return SW_WRONG_DATA;
	c->transport_pin = (c->options & 0x0002) != 0;
	memcpy(c->sopin, so->value, SOPIN_LEN);
	c->so_left = SO_TRIES;
	OPENSSL_cleanse(c->domains, sizeof(c->domains));
	c->n_domains = nd;
	if (shares && domain_make_dkek(&c->domains[0], shares->value[0]) < 0)
		return SW_UNKNOWN;
	c->initialized = true;
	c->pin_ok = false;
	c->dirty = true;
	return SW_OK;
}

uint16_t sim_cmd_challenge(sim_card *c, const apdu *a, smk_buf *out)
{
	(void)c;
	if (a->p1 != 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	if (a->lc != 0 || a->ne == 0 || a->ne > CHALLENGE_MAX)
		return SW_WRONG_LENGTH;
	if (smk_buf_reserve(out, a->ne) < 0)
		return SW_UNKNOWN;
	if (RAND_bytes(out->data + out->len, (int)a->ne) != 1)
		return SW_UNKNOWN;
	out->len += a->ne;
	return SW_OK;
}

static uint16_t domain_status(const struct sim_domain *d, smk_buf *out)
{
	uint8_t st[10] = {d->shares_total, d->shares_left};

	/* reference §2.7: total shares, outstanding shares, KCV; an XKEK
	 * domain adds its UID */
	if (!d->xkek)
		sim_domain_kcv(d, st + 2);
	if (smk_buf_add(out, st, sizeof(st)) < 0 ||
	    (d->xkek && smk_buf_add(out, d->uid, d->uid_len) < 0))
		return SW_UNKNOWN;
	return SW_OK;
}

/* reference §2.7: a DKEK share is XOR-ed into the domain's key; the key
 * check value is the first 8 bytes of SHA-256(DKEK). */
static uint16_t domain_import(struct sim_domain *d, const apdu *a)
{
	if (a->lc != SIM_DKEK_LEN)
		return SW_WRONG_DATA;
	if (d->xkek)
		return SW_CONDITIONS;
	if (d->shares_left == 0)
		return SW_CONDITIONS;
	for (size_t i = 0; i < SIM_DKEK_LEN; i++)
		d->dkek[i] ^= a->data[i];
	d->has_dkek = true;
	d->shares_left--;
	return SW_OK;
}

/* A DKEK domain; with no shares the DKEK is random (reference §7.6). */
static int domain_make_dkek(struct sim_domain *d, uint8_t shares)
{
	OPENSSL_cleanse(d, sizeof(*d));
	d->present = true;
	d->shares_total = d->shares_left = shares;
	if (shares == 0) {
		if (RAND_bytes(d->dkek, SIM_DKEK_LEN) != 1)
			return -1;
		d->has_dkek = true;
	}
	return 0;
}

uint16_t sim_cmd_domain(sim_card *c, const apdu *a, smk_buf *out)
{
	struct sim_domain *d;
	uint16_t sw;

	if (a->p2 >= c->n_domains)
		return SW_WRONG_P1P2;
	d = &c->domains[a->p2];
	/* the status and a share import need no PIN: sc-hsm-tool imports
	 * shares without one; creating or deleting needs it */
	if (a->p1 != 0x00 && !c->pin_ok)
		return SW_SECURITY;
	switch (a->p1) {
	case 0x00: /* status, or import a share */
		if (!d->present)
			return SW_REF_NOT_FOUND;
		if (a->lc) {
			sw = domain_import(d, a);
			if (sw != SW_OK)
				return sw;
			c->dirty = true;
		}
		return domain_status(d, out);
	case 0x01: /* create a DKEK domain with this many shares */
		if (a->lc != 1)
			return SW_WRONG_DATA;
		if (d->present)
			return SW_CONDITIONS;
		if (domain_make_dkek(d, a->data[0]) < 0)
			return SW_UNKNOWN;
		c->dirty = true;
		return domain_status(d, out);
	case 0x02: /* XKEK membership: not simulated */
		return SW_FUNC_UNSUPPORTED;
	case 0x03: /* delete the domain; keys bound to it become unusable */
		if (!d->present)
			return SW_REF_NOT_FOUND;
		OPENSSL_cleanse(d, sizeof(*d));
		c->dirty = true;
		return SW_OK;
	case 0x04: /* delete the domain's DKEK: every share outstanding again */
		if (!d->present || d->xkek)
			return SW_REF_NOT_FOUND;
		OPENSSL_cleanse(d->dkek, sizeof(d->dkek));
		d->has_dkek = false;
		d->shares_left = d->shares_total;
		c->dirty = true;
		return domain_status(d, out);
	}
	return SW_WRONG_P1P2;
}

int sim_card_set_pins(sim_card *c, const uint8_t *pin, size_t n, const uint8_t sopin[8], smk_err *e)
{
	if (sim_pin_set(c, pin, n, 3) < 0)
		return smk_fail(e, SMK_E_ARG, "PIN must have %d to %d characters", PIN_MIN,
				PIN_MAX);
	memcpy(c->sopin, sopin, SOPIN_LEN);
	c->so_left = SO_TRIES;
	c->options = 0x0001;
	c->transport_pin = false;
	c->initialized = true;
	c->dirty = true;
	return 0;
}
