/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The card's flat file system (reference §2): EFs named by 2-byte FIDs,
 * SELECT, ENUMERATE OBJECTS, READ BINARY B1, UPDATE BINARY D7, DELETE FILE.
 * Keys live in c->keys and appear as CC|id.
 */
#include "sim/sim_int.h"

#include <stdlib.h>
#include <string.h>

#include "sm/tlv.h"

/* reference §1.1: E8 + DER content of OID 1.3.6.1.4.1.24991.2.1 */
static const uint8_t sim_aid[] = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01, 0x81, 0xC3, 0x1F, 0x02, 0x01};

/* Largest EF the card accepts; genuine devices have ~76 kB in all. */
#define SIM_MAX_EF 0x8000

struct sim_file *sim_file_find(sim_card *c, uint16_t fid)
{
	size_t i;

	for (i = 0; i < c->n_files; i++)
		if (c->files[i].fid == fid)
			return &c->files[i];
	return NULL;
}

int sim_file_put(sim_card *c, uint16_t fid, const uint8_t *p, size_t n)
{
	struct sim_file *f = sim_file_find(c, fid), *nf;

	if (f == NULL) {
		if (c->n_files >= SIM_MAX_FILES)
			return -1;
		nf = realloc(c->files, (c->n_files + 1) * sizeof(*nf));
		if (nf == NULL)
			return -1;
		c->files = nf;
		f = &c->files[c->n_files++];
		f->fid = fid;
		smk_buf_init(&f->data);
	}
	smk_buf_reset(&f->data);
	return n ? smk_buf_add(&f->data, p, n) : 0;
}

void sim_file_delete(sim_card *c, uint16_t fid)
{
	struct sim_file *f = sim_file_find(c, fid);
	size_t i;

	if (f == NULL)
		return;
	i = (size_t)(f - c->files);
	f->data.secret = 1;
	smk_buf_free(&f->data);
	memmove(&c->files[i], &c->files[i + 1], (c->n_files - i - 1) * sizeof(*f));
	c->n_files--;
}

void sim_files_wipe(sim_card *c)
{
	size_t i = 0;

	while (i < c->n_files) {
		if (c->files[i].fid == SIM_FID_DEVAUT)
			i++;
		else
			sim_file_delete(c, c->files[i].fid);
	}
}

static bool is_key_fid(uint16_t fid)
{
	return fid >> 8 == SIM_PFX_KEY;
}

static uint16_t select_applet(sim_card *c, const apdu *a, smk_buf *out)
{
	size_t mark;
	int r = 0;

	if (a->lc != sizeof(sim_aid) || memcmp(a->data, sim_aid, sizeof(sim_aid)) != 0)
		return SW_NOT_FOUND;
	/* reference §1.1: selecting the applet is the logout; it ends secure
	 * messaging and forgets the PIN */
	sim_sm_end(c);
	c->selected = true;
	c->pin_ok = false;
	c->ca_selected = false;
	c->cur_ef = 0;
	if (a->p2 == 0x0C)
		return SW_OK;
	/* reference §1.2: FCP with proprietary DO 85 = option word, build
	 * type, version major, minor */
	{
		uint8_t info[5] = {(uint8_t)(c->options >> 8), (uint8_t)c->options, 0x00,
				   SIM_FW_MAJOR, SIM_FW_MINOR};
		uint8_t df = 0x38;

		r |= tlv_begin(out, 0x62, &mark);
		r |= tlv_put(out, 0x82, &df, 1);
		r |= tlv_put(out, 0x84, sim_aid, sizeof(sim_aid));
		r |= tlv_put(out, 0x85, info, sizeof(info));
		r |= tlv_end(out, mark);
	}
	return r < 0 ? SW_UNKNOWN : SW_OK;
}

static uint16_t ef_fcp(const struct sim_file *f, smk_buf *out)
{
	uint8_t size[2] = {(uint8_t)(f->data.len >> 8), (uint8_t)f->data.len};
	uint8_t fid[2] = {(uint8_t)(f->fid >> 8), (uint8_t)f->fid};
	uint8_t ef = 0x01;
	size_t mark;
	int r = 0;

	r |= tlv_begin(out, 0x62, &mark);
	r |= tlv_put(out, 0x80, size, 2);
	r |= tlv_put(out, 0x82, &ef, 1);
	r |= tlv_put(out, 0x83, fid, 2);
	r |= tlv_end(out, mark);
	return r < 0 ? SW_UNKNOWN : SW_OK;
}

/* Behind sim_card_set_fcp_algorithms: the FCP of a key object carries the
 * key's algorithm list as DO 91 in the proprietary template A5 (no 91: the
 * key has no list and may do everything). Genuine firmware: not known. */
static uint16_t key_fcp(const struct sim_key *k, uint16_t fid, smk_buf *out)
{
	uint8_t id[2] = {(uint8_t)(fid >> 8), (uint8_t)fid};
	uint8_t desc = 0x18; /* internal EF */
	size_t mark, prop;
	int r = 0;

	r |= tlv_begin(out, 0x62, &mark);
	r |= tlv_put(out, 0x82, &desc, 1);
	r |= tlv_put(out, 0x83, id, 2);
	r |= tlv_begin(out, 0xA5, &prop);
	if (k->n_algs)
		r |= tlv_put(out, 0x91, k->algs, k->n_algs);
	r |= tlv_end(out, prop);
	r |= tlv_end(out, mark);
	return r < 0 ? SW_UNKNOWN : SW_OK;
}

uint16_t sim_cmd_select(sim_card *c, const apdu *a, smk_buf *out)
{
	struct sim_file *f;
	uint16_t fid;

	/* reference §1.2: P2 00 and 04 return the FCP, 0C nothing (genuine
	 * firmware accepts 0C, §9) */
	if (a->p2 != 0x00 && a->p2 != 0x04 && a->p2 != 0x0C)
		return SW_WRONG_P1P2;
	if (a->p1 == 0x04)
		return select_applet(c, a, out);
	if (a->p1 != 0x00 && a->p1 != 0x02)
		return SW_WRONG_P1P2;
	if (!c->selected)
		return SW_NOT_FOUND;
	if (a->lc != 2)
		return SW_WRONG_LENGTH;
	fid = (uint16_t)(a->data[0] << 8 | a->data[1]);
	if (is_key_fid(fid) && c->fcp_algs && c->keys[fid & 0xFF] != NULL) {
		c->cur_ef = fid;
		return a->p2 == 0x0C ? SW_OK : key_fcp(c->keys[fid & 0xFF], fid, out);
	}
	f = sim_file_find(c, fid);
	if (f == NULL)
		return SW_NOT_FOUND;
	c->cur_ef = fid;
	if (a->p2 == 0x0C)
		return SW_OK;
	return ef_fcp(f, out);
}

static int fid_cmp(const void *x, const void *y)
{
	uint16_t a = *(const uint16_t *)x, b = *(const uint16_t *)y;

	return a < b ? -1 : a > b;
}

uint16_t sim_cmd_enumerate(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t *fids;
	size_t n = 0, i;
	int r = 0;

	if (a->p1 != 0 || a->p2 != 0)
		return SW_WRONG_P1P2;
	fids = malloc((c->n_files + 256) * sizeof(*fids));
	if (fids == NULL)
		return SW_UNKNOWN;
	for (i = 0; i < 256; i++)
		if (c->keys[i] != NULL)
			fids[n++] = (uint16_t)(SIM_PFX_KEY << 8 | i);
	for (i = 0; i < c->n_files; i++)
		fids[n++] = c->files[i].fid;
	qsort(fids, n, sizeof(*fids), fid_cmp);
	/* reference §2.2: concatenated FIDs; a short Le cannot carry more than
	 * 128 of them */
	if (2 * n > a->ne) {
		free(fids);
		return SW_WRONG_LENGTH;
	}
	for (i = 0; i < n; i++) {
		r |= smk_buf_add_byte(out, (uint8_t)(fids[i] >> 8));
		r |= smk_buf_add_byte(out, (uint8_t)fids[i]);
	}
	free(fids);
	return r < 0 ? SW_UNKNOWN : SW_OK;
}

/* The FID in P1P2, or the current EF for 0000. */
static uint16_t target_fid(const sim_card *c, const apdu *a)
{
	uint16_t fid = (uint16_t)(a->p1 << 8 | a->p2);

	return fid ? fid : c->cur_ef;
}

/* Offset DO 54 (reference §2.3): 1 to 2 value bytes. -1 if missing or bad. */
static long offset_do(const uint8_t *p, size_t n, tlv *t)
{
	long off = 0;
	size_t i;

	if (tlv_find(p, n, 0x54, t, NULL) != 1 || t->len < 1 || t->len > 2)
		return -1;
	for (i = 0; i < t->len; i++)
		off = off << 8 | t->value[i];
	return off;
}

uint16_t sim_cmd_read(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t fid = target_fid(c, a);
	struct sim_file *f;
	size_t off, left, take;
	long o;
	tlv t;

	if (a->ne == 0)
		return SW_WRONG_LENGTH;
	o = offset_do(a->data, a->lc, &t);
	if (o < 0)
		return SW_WRONG_DATA;
	if (fid == 0)
		return SW_NOT_FOUND;
	if (is_key_fid(fid)) /* private keys never leave the card */
		return c->keys[fid & 0xFF] ? SW_SECURITY : SW_NOT_FOUND;
	f = sim_file_find(c, fid);
	if (f == NULL)
		return SW_NOT_FOUND;
	if (fid >> 8 == SIM_PFX_PRIVDATA && !c->pin_ok)
		return SW_SECURITY;
	c->cur_ef = fid;
	off = (size_t)o;
	if (off > f->data.len)
		return SW_WRONG_PARAMS;
	left = f->data.len - off;
	take = left < a->ne ? left : a->ne;
	if (c->quirks & SIM_QUIRK_READ_61XX && c->sm == NULL && fid == SIM_FID_DEVAUT && take > 256)
		take = 256;
	if (take && smk_buf_add(out, f->data.data + off, take) < 0)
		return SW_UNKNOWN;
	if (c->quirks & SIM_QUIRK_READ_61XX && c->sm == NULL && fid == SIM_FID_DEVAUT &&
	    left > take) {
		/* ISO 7816-4: the rest waits for GET RESPONSE */
		if (smk_buf_add(&c->get_response, f->data.data + off + take, left - take) < 0)
			return SW_UNKNOWN;
		return (uint16_t)(0x6100 | (left - take > 255 ? 0 : left - take));
	}
	/* reference §2.3: fewer than Le bytes left -> what is left, 6282 */
	return left < a->ne ? SW_EOF : SW_OK;
}

/* GET RESPONSE 00 C0 00 00 Le (ISO 7816-4), for SIM_QUIRK_READ_61XX: the next
 * Le bytes of what the last READ BINARY left; 61xx while more is left. */
uint16_t sim_cmd_get_response(sim_card *c, const apdu *a, smk_buf *out)
{
	smk_buf *g = &c->get_response;
	size_t take, left;

	if (a->p1 != 0 || a->p2 != 0 || a->lc != 0)
		return SW_WRONG_P1P2;
	if (g->len == 0)
		return SW_CONDITIONS;
	if (a->ne == 0)
		return SW_WRONG_LENGTH;
	take = g->len < a->ne ? g->len : a->ne;
	if (smk_buf_add(out, g->data, take) < 0)
		return SW_UNKNOWN;
	left = g->len - take;
	memmove(g->data, g->data + take, left);
	g->len = left;
	if (left == 0)
		return SW_OK;
	return (uint16_t)(0x6100 | (left > 255 ? 0 : left));
}

uint16_t sim_cmd_update(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t fid = target_fid(c, a);
	struct sim_file *f;
	smk_buf nd = SMK_BUF_INIT;
	size_t off, end;
	long o;
	tlv t, d;
	int r = 0;

	(void)out;
	if (!c->pin_ok)
		return SW_SECURITY;
	o = offset_do(a->data, a->lc, &t);
	if (o < 0 || tlv_find(a->data, a->lc, 0x53, &d, NULL) != 1)
		return SW_WRONG_DATA;
	if (fid == 0)
		return SW_NOT_FOUND;
	/* keys are written by GAKP only; the device certificates are fixed */
	if (is_key_fid(fid) || fid == SIM_FID_DEVAUT)
		return SW_SECURITY;
	off = (size_t)o;
	end = off + d.len;
	if (end > SIM_MAX_EF)
		return SW_NO_MEMORY;
	f = sim_file_find(c, fid);
	/* reference §2.4: writing a new FID creates the EF; a write past the
	 * end must start at the current end (no holes) */
	if (off > (f ? f->data.len : 0))
		return SW_WRONG_PARAMS;
	if (f != NULL)
		r |= smk_buf_add(&nd, f->data.data, f->data.len);
	if (end > nd.len)
		r |= smk_buf_reserve(&nd, end - nd.len);
	if (r < 0) {
		smk_buf_free(&nd);
		return SW_UNKNOWN;
	}
	if (end > nd.len)
		nd.len = end;
	if (d.len)
		memcpy(nd.data + off, d.value, d.len);
	r = sim_file_put(c, fid, nd.data, nd.len);
	smk_buf_free(&nd);
	if (r < 0)
		return SW_NO_MEMORY;
	c->cur_ef = fid;
	c->dirty = true;
	return SW_OK;
}

uint16_t sim_cmd_delete(sim_card *c, const apdu *a, smk_buf *out)
{
	uint16_t fid;

	(void)out;
	if (a->p1 != 0x02 || a->p2 != 0x00)
		return SW_WRONG_P1P2;
	if (a->lc != 2)
		return SW_WRONG_LENGTH;
	if (!c->pin_ok)
		return SW_SECURITY;
	fid = (uint16_t)(a->data[0] << 8 | a->data[1]);
	if (fid == (SIM_PFX_KEY << 8) || fid == SIM_FID_DEVAUT)
		return SW_CONDITIONS; /* the device key and its certificates stay */
	if (is_key_fid(fid)) {
		if (c->keys[fid & 0xFF] == NULL)
			return SW_NOT_FOUND;
		sim_key_free(c->keys[fid & 0xFF]);
		c->keys[fid & 0xFF] = NULL;
	} else {
		if (sim_file_find(c, fid) == NULL)
			return SW_NOT_FOUND;
		sim_file_delete(c, fid);
	}
	if (c->cur_ef == fid)
		c->cur_ef = 0;
	c->dirty = true;
	return SW_OK;
}
