/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The SmartCard-HSM device and file commands (ref §1, §2, §7.1, §7.5, §7.6):
 * SELECT, ENUMERATE OBJECTS, READ / UPDATE BINARY with their chunk drivers,
 * DELETE FILE, VERIFY, GET CHALLENGE, INITIALIZE DEVICE. Key commands are in
 * hsm_keys.c.
 */
#include "hsm.h"

#include <stdio.h>
#include <string.h>

#include "tlv.h"

const uint8_t hsm_aid[HSM_AID_LEN] = {0xE8, 0x2B, 0x06, 0x01, 0x04, 0x01,
				      0x81, 0xC3, 0x1F, 0x02, 0x01};

/* Largest offset the two bytes of DO 54 can carry (ref §2.3) */
#define OFFSET_MAX 0xFFFFu

int hsm_check_sw(uint16_t sw, const char *what, smk_err *e)
{
	if (sw == 0x9000)
		return 0;
	return sw_fail(e, sw, what);
}

static int nomem(smk_err *e, const char *what)
{
	return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", what);
}

/* ---- SELECT ---- */

int hsm_build_select(apdu *a, uint8_t p2, smk_err *e)
{
	if (p2 != 0x00 && p2 != 0x04 && p2 != 0x0C)
		return smk_fail(e, SMK_E_ARG, "SELECT: P2 %02X is not 00, 04 or 0C", p2);
	/* ref §1.2: P2 00/04 want the FCP (Le 00), 0C wants nothing */
	*a = (apdu){.cla = 0x00,
		    .ins = 0xA4,
		    .p1 = 0x04,
		    .p2 = p2,
		    .data = hsm_aid,
		    .lc = HSM_AID_LEN,
		    .ne = p2 == 0x0C ? 0 : APDU_SHORT_MAX_NE};
	return 0;
}

int hsm_parse_select(const uint8_t *data, size_t len, uint16_t sw, hsm_fcp *out, smk_err *e)
{
	tlv fcp, info;
	int r;

	memset(out, 0, sizeof(*out));
	if (hsm_check_sw(sw, "SELECT SmartCard-HSM applet", e) < 0)
		return -1;
	if (tlv_parse_exact(data, len, 0x62, &fcp, e) < 0)
		return smk_context(e, "SELECT SmartCard-HSM applet: FCP");
	r = tlv_find(fcp.value, fcp.len, 0x85, &info, e);
	if (r < 0)
		return smk_context(e, "SELECT SmartCard-HSM applet: FCP");
	/* ref §1.2: OpenSC's detection rule, 85 with at least the version */
	if (r == 0 || info.len < 2)
		return smk_fail(
		    e, SMK_E_UNSUPPORTED,
		    "SELECT SmartCard-HSM applet: FCP has no device information (tag 85 "
		    "of 2 bytes or more); not a SmartCard-HSM");
	out->version_major = info.value[info.len - 2];
	out->version_minor = info.value[info.len - 1];
	if (info.len >= 3) {
		out->has_build_type = true;
		out->build_type = info.value[info.len - 3];
	}
	if (info.len >= 5) {
		out->has_options = true;
		out->options = (uint16_t)(info.value[0] << 8 | info.value[1]);
	}
	return 0;
}

/* ---- ENUMERATE OBJECTS ---- */

void hsm_build_enumerate(apdu *a, bool extended)
{
	*a = (apdu){.cla = 0x80,
		    .ins = 0x58,
		    .ne = extended ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE,
		    .extended = extended};
}

int hsm_parse_enumerate(const uint8_t *data, size_t len, uint16_t sw, hsm_objects *out, smk_err *e)
{
	out->fids = NULL;
	out->count = 0;
	if (hsm_check_sw(sw, "ENUMERATE OBJECTS", e) < 0)
		return -1;
	if (len % 2 != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"ENUMERATE OBJECTS: %zu bytes is not a list of 2-byte FIDs", len);
	out->fids = len ? data : NULL;
	out->count = len / 2;
	return 0;
}

uint16_t hsm_objects_fid(const hsm_objects *o, size_t i)
{
	if (i >= o->count)
		return 0;
	return (uint16_t)(o->fids[2 * i] << 8 | o->fids[2 * i + 1]);
}

bool hsm_objects_has(const hsm_objects *o, uint16_t fid)
{
	for (size_t i = 0; i < o->count; i++)
		if (hsm_objects_fid(o, i) == fid)
			return true;
	return false;
}

static void key_map(const hsm_objects *o, bool used[256])
{
	memset(used, 0, 256 * sizeof(bool));
	for (size_t i = 0; i < o->count; i++) {
		uint16_t fid = hsm_objects_fid(o, i);

		if (fid >> 8 == HSM_PREFIX_KEY)
			used[fid & 0xFF] = true;
	}
}

size_t hsm_key_ids(const hsm_objects *o, uint8_t ids[255])
{
	bool used[256];
	size_t n = 0;

	key_map(o, used);
	/* id 0 is the device authentication key, never a user key */
	for (unsigned id = 1; id <= 255; id++)
		if (used[id])
			ids[n++] = (uint8_t)id;
	return n;
}

int hsm_free_key_id(const hsm_objects *o, uint8_t *id, smk_err *e)
{
	bool used[256];

	key_map(o, used);
	for (unsigned i = 1; i <= 255; i++) {
		if (!used[i]) {
			*id = (uint8_t)i;
			return 0;
		}
	}
	return smk_fail(e, SMK_E_CARD, "no free key id: all 255 key slots are in use");
}

/* ---- READ BINARY ---- */

static void put_offset(uint8_t cmd[4], size_t offset)
{
	/* ref §2.3: offset DO 54 with two bytes */
	cmd[0] = 0x54;
	cmd[1] = 0x02;
	cmd[2] = (uint8_t)(offset >> 8);
	cmd[3] = (uint8_t)offset;
}

static apdu read_apdu(uint16_t fid, const uint8_t *cmd, bool extended)
{
	return (apdu){.cla = 0x00,
		      .ins = 0xB1,
		      .p1 = (uint8_t)(fid >> 8),
		      .p2 = (uint8_t)fid,
		      .data = cmd,
		      .lc = 4,
		      .ne = extended ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE,
		      .extended = extended};
}

int hsm_build_read_binary(apdu *a, smk_buf *data, uint16_t fid, size_t offset, bool extended,
			  smk_err *e)
{
	uint8_t cmd[4];

	if (offset > OFFSET_MAX)
		return smk_fail(e, SMK_E_ARG, "READ BINARY %04X: offset %zu does not fit 2 bytes",
				fid, offset);
	put_offset(cmd, offset);
	smk_buf_reset(data);
	if (smk_buf_add(data, cmd, sizeof(cmd)) < 0)
		return nomem(e, "READ BINARY");
	*a = read_apdu(fid, data->data, extended);
	return 0;
}

void hsm_read_init(hsm_reader *r, uint16_t fid, bool extended, size_t max_total, smk_buf *out)
{
	memset(r, 0, sizeof(*r));
	r->fid = fid;
	r->extended = extended;
	r->max_total = max_total;
	r->out = out;
}

/* A chunked reader or writer takes its next step only after the last one
 * was answered, and never after an error. */
static int step_allowed(bool failed, bool awaiting, const char *cmd, const char *role, unsigned fid,
			smk_err *e)
{
	if (failed)
		return smk_fail(e, SMK_E_ARG, "%s %04X: %s used after an error", cmd, fid, role);
	if (awaiting)
		return smk_fail(e, SMK_E_ARG, "%s %04X: previous command not answered", cmd, fid);
	return 0;
}

int hsm_read_next(hsm_reader *r, apdu *a, smk_err *e)
{
	if (step_allowed(r->failed, r->awaiting, "READ BINARY", "reader", r->fid, e) < 0)
		return -1;
	if (r->done)
		return 0;
	if (r->max_total == 0 || r->out == NULL)
		return smk_fail(e, SMK_E_ARG, "READ BINARY %04X: no size bound or output", r->fid);
	if (r->offset > OFFSET_MAX) {
		r->failed = true;
		return smk_fail(e, SMK_E_FORMAT,
				"READ BINARY %04X: file goes on past the last 2-byte offset",
				r->fid);
	}
	if (r->more) {
		/* ISO 7816-4 GET RESPONSE: case 2, Le = what 61xx announced */
		*a = (apdu){.cla = 0x00, .ins = 0xC0, .ne = r->more};
		r->get_response = true;
	} else {
		put_offset(r->cmd, r->offset);
		*a = read_apdu(r->fid, r->cmd, r->extended);
		r->get_response = false;
	}
	r->asked = a->ne;
	r->awaiting = true;
	return 1;
}

int hsm_read_feed(hsm_reader *r, const uint8_t *data, size_t len, uint16_t sw, smk_err *e)
{
	char what[48];
	bool more = (sw & 0xFF00) == 0x6100;

	snprintf(what, sizeof(what), "READ BINARY %04X%s", r->fid,
		 r->get_response ? " (GET RESPONSE)" : "");
	if (!r->awaiting)
		return smk_fail(e, SMK_E_ARG, "%s: answer fed without a command", what);
	r->awaiting = false;
	r->failed = true; /* until proven otherwise */
	/* ref §1.5: 6282 = end of file before Le bytes, the data is valid;
	 * ISO 7816-4: 61xx = the data is valid and xx more bytes wait */
	if (sw == 0x6B00 && r->chained && !r->get_response) {
		/* the chain ended exactly at the end of the file */
		r->failed = false;
		r->done = true;
		return 0;
	}
	if (sw != 0x9000 && sw != 0x6282 && !more)
		return sw_fail(e, sw, what);
	if (len > r->asked)
		return smk_fail(e, SMK_E_FORMAT, "%s: card returned %zu bytes, %zu were asked for",
				what, len, r->asked);
	if (len > r->max_total - r->offset)
		return smk_fail(e, SMK_E_FORMAT, "%s: content exceeds the limit of %zu bytes", what,
				r->max_total);
	/* every step must bring data, or a card answering 61xx forever would
	 * keep the reader going without reaching max_total */
	if (more && len == 0)
		return smk_fail(e, SMK_E_FORMAT, "%s: SW %04X announces more data but none came",
				what, sw);
	if (smk_buf_add(r->out, data, len) < 0)
		return nomem(e, what);
	r->offset += len;
	r->failed = false;
	if (more) {
		r->more = (sw & 0xFF) ? (sw & 0xFF) : 256;
		return 0;
	}
	r->more = 0;
	r->chained = r->get_response;
	/* ref §2.3: stop on 6282, on nothing received, or on a short answer;
	 * after GET RESPONSE the READ BINARY it completed was whole, so the
	 * file goes on at the new offset until one of those says it ended */
	if (sw == 0x6282 || len == 0 || (!r->get_response && len < r->asked))
		r->done = true;
	return 0;
}

/* ---- UPDATE BINARY ---- */

int hsm_build_update_binary(apdu *a, smk_buf *data, uint16_t fid, size_t offset,
			    const uint8_t *content, size_t len, smk_err *e)
{
	uint8_t off[4];

	if (offset > OFFSET_MAX)
		return smk_fail(e, SMK_E_ARG, "UPDATE BINARY %04X: offset %zu does not fit 2 bytes",
				fid, offset);
	if (len > APDU_EXT_MAX_LC - 8)
		return smk_fail(e, SMK_E_ARG,
				"UPDATE BINARY %04X: %zu bytes do not fit one command", fid, len);
	if (len > 0 && content == NULL)
		return smk_fail(e, SMK_E_ARG, "UPDATE BINARY %04X: content missing", fid);
	put_offset(off, offset);
	smk_buf_reset(data);
	/* ref §2.4: 54 02 offset, then 53 with a DER length */
	if (smk_buf_add(data, off, sizeof(off)) < 0 || tlv_put(data, 0x53, content, len) < 0)
		return nomem(e, "UPDATE BINARY");
	*a = (apdu){.cla = 0x00,
		    .ins = 0xD7,
		    .p1 = (uint8_t)(fid >> 8),
		    .p2 = (uint8_t)fid,
		    .data = data->data,
		    .lc = data->len};
	return 0;
}

size_t hsm_update_chunk_len(size_t max_data)
{
	size_t chunk;

	if (max_data > APDU_EXT_MAX_LC)
		max_data = APDU_EXT_MAX_LC;
	/* overhead: 54 02 hi lo (4), tag 53 (1), its length field (1..3) */
	if (max_data < 7)
		return 0;
	chunk = max_data - 5;
	while (chunk > 0 && 5 + tlv_len_size(chunk) + chunk > max_data)
		chunk--;
	return chunk;
}

int hsm_write_init(hsm_writer *w, uint16_t fid, const uint8_t *content, size_t len, size_t max_data,
		   smk_err *e)
{
	memset(w, 0, sizeof(*w));
	smk_buf_init(&w->cmd);
	w->fid = fid;
	w->content = content;
	w->len = len;
	w->chunk = hsm_update_chunk_len(max_data);
	if (w->chunk == 0)
		return smk_fail(e, SMK_E_ARG,
				"UPDATE BINARY %04X: %zu command bytes cannot carry any content",
				fid, max_data);
	if (len > 0 && content == NULL)
		return smk_fail(e, SMK_E_ARG, "UPDATE BINARY %04X: content missing", fid);
	/* every chunk must start at an offset that fits DO 54 */
	if (len > (size_t)OFFSET_MAX + 1)
		return smk_fail(e, SMK_E_ARG,
				"UPDATE BINARY %04X: %zu bytes exceed what 2-byte offsets address",
				fid, len);
	return 0;
}

int hsm_write_next(hsm_writer *w, apdu *a, smk_err *e)
{
	size_t n;

	if (step_allowed(w->failed, w->awaiting, "UPDATE BINARY", "writer", w->fid, e) < 0)
		return -1;
	if (w->chunk == 0)
		return smk_fail(e, SMK_E_ARG, "UPDATE BINARY %04X: writer not initialised", w->fid);
	/* empty content still sends one command: it creates the EF */
	if (w->started && w->pos >= w->len)
		return 0;
	n = w->len - w->pos < w->chunk ? w->len - w->pos : w->chunk;
	if (hsm_build_update_binary(a, &w->cmd, w->fid, w->pos,
				    w->content ? w->content + w->pos : NULL, n, e) < 0) {
		w->failed = true;
		return -1;
	}
	w->sent = n;
	w->started = true;
	w->awaiting = true;
	return 1;
}

int hsm_write_feed(hsm_writer *w, uint16_t sw, smk_err *e)
{
	char what[48];

	snprintf(what, sizeof(what), "UPDATE BINARY %04X at offset %zu", w->fid, w->pos);
	if (!w->awaiting)
		return smk_fail(e, SMK_E_ARG, "%s: answer fed without a command", what);
	w->awaiting = false;
	if (sw != 0x9000) {
		w->failed = true;
		return sw_fail(e, sw, what);
	}
	w->pos += w->sent;
	return 0;
}

void hsm_write_free(hsm_writer *w)
{
	smk_buf_free(&w->cmd);
}

/* ---- DELETE FILE ---- */

int hsm_build_delete_file(apdu *a, smk_buf *data, uint16_t fid, smk_err *e)
{
	uint8_t f[2] = {(uint8_t)(fid >> 8), (uint8_t)fid};

	smk_buf_reset(data);
	if (smk_buf_add(data, f, 2) < 0)
		return nomem(e, "DELETE FILE");
	/* ref §2.5 */
	*a = (apdu){.cla = 0x00, .ins = 0xE4, .p1 = 0x02, .p2 = 0x00, .data = data->data, .lc = 2};
	return 0;
}

/* ---- card side: file commands ---- */

static int parse_offset(const tlv *t, const char *what, size_t *offset, smk_err *e)
{
	if (t->tag != 0x54)
		return smk_fail(e, SMK_E_FORMAT, "%s: expected offset DO 54, found tag %X", what,
				t->tag);
	if (t->len < 1 || t->len > 2)
		return smk_fail(e, SMK_E_FORMAT, "%s: offset DO 54 of %zu bytes (must be 1 or 2)",
				what, t->len);
	*offset = t->len == 1 ? t->value[0] : (size_t)t->value[0] << 8 | t->value[1];
	return 0;
}

int hsm_parse_read_binary_cmd(const uint8_t *data, size_t len, size_t *offset, smk_err *e)
{
	tlv t;

	if (tlv_parse_exact(data, len, 0x54, &t, e) < 0)
		return smk_context(e, "READ BINARY command data");
	return parse_offset(&t, "READ BINARY", offset, e);
}

int hsm_parse_update_binary_cmd(const uint8_t *data, size_t len, size_t *offset,
				const uint8_t **content, size_t *content_len, smk_err *e)
{
	tlv off, body;

	if (tlv_parse(data, len, &off, e) < 0)
		return smk_context(e, "UPDATE BINARY command data");
	if (parse_offset(&off, "UPDATE BINARY", offset, e) < 0)
		return -1;
	if (tlv_parse_exact(data + off.raw_len, len - off.raw_len, 0x53, &body, e) < 0)
		return smk_context(e, "UPDATE BINARY command data after the offset");
	*content = body.value;
	*content_len = body.len;
	return 0;
}

int hsm_parse_delete_file_cmd(const uint8_t *data, size_t len, uint16_t *fid, smk_err *e)
{
	if (len != 2)
		return smk_fail(e, SMK_E_FORMAT, "DELETE FILE: %zu bytes of data, a FID has 2",
				len);
	*fid = (uint16_t)(data[0] << 8 | data[1]);
	return 0;
}

/* ---- VERIFY ---- */

int hsm_check_pin_len(size_t pin_len, smk_err *e)
{
	/* the length is not echoed: even that says something about a PIN */
	if (pin_len < HSM_PIN_MIN || pin_len > HSM_PIN_MAX)
		return smk_fail(e, SMK_E_ARG, "PIN must be %d to %d bytes long", HSM_PIN_MIN,
				HSM_PIN_MAX);
	return 0;
}

int hsm_build_verify_pin(apdu *a, const uint8_t *pin, size_t pin_len, smk_err *e)
{
	if (pin == NULL)
		return smk_fail(e, SMK_E_ARG, "VERIFY PIN: no PIN");
	if (hsm_check_pin_len(pin_len, e) < 0)
		return smk_context(e, "VERIFY PIN");
	*a = (apdu){.cla = 0x00, .ins = 0x20, .p1 = 0x00, .p2 = 0x81, .data = pin, .lc = pin_len};
	return 0;
}

void hsm_build_pin_status(apdu *a, bool with_le)
{
	*a = (apdu){.cla = 0x00,
		    .ins = 0x20,
		    .p1 = 0x00,
		    .p2 = 0x81,
		    .ne = with_le ? APDU_SHORT_MAX_NE : 0};
}

/* Answers to VERIFY PIN besides 63Cx that report a state (ref §7.1). */
static const struct {
	uint16_t sw;
	enum hsm_pin_state state;
} pin_states[] = {
    {0x9000, HSM_PIN_VERIFIED},
    {0x6983, HSM_PIN_BLOCKED},
    {0x6984, HSM_PIN_TRANSPORT},
    {0x6A88, HSM_PIN_NOT_INITIALISED},
};

int hsm_parse_pin_status(size_t len, uint16_t sw, hsm_pin_status *out, smk_err *e)
{
	out->state = 0;
	out->tries_left = 0;
	if (len != 0)
		return smk_fail(e, SMK_E_FORMAT, "VERIFY PIN: %zu unexpected bytes in the answer",
				len);
	if ((sw & 0xFFF0) == 0x63C0) {
		out->tries_left = sw & 0x0F;
		/* no tries left is a blocked PIN, whatever SW says it */
		out->state = out->tries_left ? HSM_PIN_NOT_VERIFIED : HSM_PIN_BLOCKED;
		return 0;
	}
	for (size_t i = 0; i < sizeof(pin_states) / sizeof(pin_states[0]); i++)
		if (sw == pin_states[i].sw) {
			out->state = pin_states[i].state;
			return 0;
		}
	return sw_fail(e, sw, "VERIFY PIN");
}

int hsm_verify_result(size_t len, uint16_t sw, smk_err *e)
{
	hsm_pin_status st;

	if (hsm_parse_pin_status(len, sw, &st, e) < 0)
		return -1;
	switch (st.state) {
	case HSM_PIN_VERIFIED:
		return 0;
	case HSM_PIN_TRANSPORT:
		smk_fail(e, SMK_E_CARD,
			 "VERIFY PIN refused, SW %04X (transport PIN: it must be changed before "
			 "first use)",
			 sw);
		break;
	case HSM_PIN_NOT_INITIALISED:
		smk_fail(e, SMK_E_CARD,
			 "VERIFY PIN refused, SW %04X (device not initialised: no user PIN set)",
			 sw);
		break;
	case HSM_PIN_BLOCKED:
		smk_fail(e, SMK_E_CARD, "VERIFY PIN refused, SW %04X (PIN blocked)", sw);
		break;
	default:
		return sw_fail(e, sw, "VERIFY PIN");
	}
	if (e)
		e->sw = sw;
	return -1;
}

/* ---- GET CHALLENGE ---- */

#define CHALLENGE_MAX 1024 /* ref §7.5: what OpenSC and sc-hsm-embedded ask at most */

int hsm_build_get_challenge(apdu *a, size_t n, smk_err *e)
{
	if (n == 0 || n > CHALLENGE_MAX)
		return smk_fail(e, SMK_E_ARG, "GET CHALLENGE: %zu bytes (must be 1 to %d)", n,
				CHALLENGE_MAX);
	*a = (apdu){.cla = 0x00, .ins = 0x84, .ne = n};
	return 0;
}

int hsm_parse_challenge(const uint8_t *data, size_t len, uint16_t sw, size_t n, smk_err *e)
{
	(void)data;
	if (hsm_check_sw(sw, "GET CHALLENGE", e) < 0)
		return -1;
	if (len != n)
		return smk_fail(e, SMK_E_FORMAT, "GET CHALLENGE: %zu bytes returned, %zu asked for",
				len, n);
	return 0;
}

/* ---- INITIALIZE DEVICE ---- */

#define RETRY_MAX 10 /* ref §7.6: sc-hsm-tool's overall limit */

int hsm_build_initialize(apdu *a, smk_buf *data, const hsm_init_params *p, smk_err *e)
{
	uint8_t opt[2] = {(uint8_t)(p->options >> 8), (uint8_t)p->options};
	int r = 0;

	if (p->pin == NULL)
		return smk_fail(e, SMK_E_ARG, "INITIALIZE DEVICE: no user PIN");
	if (hsm_check_pin_len(p->pin_len, e) < 0)
		return smk_context(e, "INITIALIZE DEVICE");
	if (p->so_pin == NULL)
		return smk_fail(e, SMK_E_ARG, "INITIALIZE DEVICE: no SO-PIN");
	if (p->retry_counter > RETRY_MAX)
		return smk_fail(e, SMK_E_ARG,
				"INITIALIZE DEVICE: retry counter %u (must be 1 to %d)",
				p->retry_counter, RETRY_MAX);
	data->secret = 1;
	smk_buf_reset(data);
	/* ref §7.6 */
	r |= tlv_put(data, 0x80, opt, 2);
	r |= tlv_put(data, 0x81, p->pin, p->pin_len);
	r |= tlv_put(data, 0x82, p->so_pin, HSM_SOPIN_LEN);
	if (p->retry_counter)
		r |= tlv_put(data, 0x91, &p->retry_counter, 1);
	if (p->has_dkek_shares)
		r |= tlv_put(data, 0x92, &p->dkek_shares, 1);
	if (p->key_domains)
		r |= tlv_put(data, 0x97, &p->key_domains, 1);
	if (r < 0)
		return nomem(e, "INITIALIZE DEVICE");
	*a = (apdu){.cla = 0x80, .ins = 0x50, .data = data->data, .lc = data->len};
	return 0;
}

int hsm_parse_initialize_cmd(const uint8_t *data, size_t len, hsm_init_params *out, smk_err *e)
{
	static const char what[] = "INITIALIZE DEVICE";
	unsigned seen = 0, bit;
	tlv_iter it;
	tlv t;
	int r;

	memset(out, 0, sizeof(*out));
	tlv_iter_init(&it, data, len);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		switch (t.tag) {
		case 0x80:
			bit = 1;
			break;
		case 0x81:
			bit = 2;
			break;
		case 0x82:
			bit = 4;
			break;
		case 0x91:
			bit = 8;
			break;
		case 0x92:
			bit = 16;
			break;
		case 0x97:
			bit = 32;
			break;
		default:
			return smk_fail(e, SMK_E_UNSUPPORTED, "%s: tag %X is not supported", what,
					t.tag);
		}
		if (seen & bit)
			return smk_fail(e, SMK_E_FORMAT, "%s: tag %X twice", what, t.tag);
		seen |= bit;
		if (t.tag == 0x81) {
			if (hsm_check_pin_len(t.len, e) < 0)
				return smk_context(e, "%s: user PIN", what);
			out->pin = t.value;
			out->pin_len = t.len;
			continue;
		}
		if (t.len != (t.tag == 0x80 ? 2u : t.tag == 0x82 ? HSM_SOPIN_LEN : 1u))
			return smk_fail(e, SMK_E_FORMAT, "%s: tag %X has %zu bytes", what, t.tag,
					t.len);
		switch (t.tag) {
		case 0x80:
			out->options = (uint16_t)(t.value[0] << 8 | t.value[1]);
			break;
		case 0x82:
			out->so_pin = t.value;
			break;
		case 0x91:
			if (t.value[0] == 0 || t.value[0] > RETRY_MAX)
				return smk_fail(e, SMK_E_FORMAT,
						"%s: retry counter %u (must be 1 to %d)", what,
						t.value[0], RETRY_MAX);
			out->retry_counter = t.value[0];
			break;
		case 0x92:
			out->has_dkek_shares = true;
			out->dkek_shares = t.value[0];
			break;
		case 0x97:
			out->key_domains = t.value[0];
			break;
		}
	}
	if (r < 0)
		return smk_context(e, "%s", what);
	if ((seen & 7) != 7)
		return smk_fail(e, SMK_E_FORMAT,
				"%s: options (80), PIN (81) and SO-PIN (82) are "
				"all required",
				what);
	return 0;
}
