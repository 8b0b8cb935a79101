/* SPDX-License-Identifier: BSD-3-Clause */
#include "apdu.h"

#include <stdio.h>

int apdu_encode(const apdu *a, smk_buf *out, smk_err *e)
{
	uint8_t hdr[4] = {a->cla, a->ins, a->p1, a->p2};
	bool ext;
	int r = 0;

	if (a->lc > APDU_EXT_MAX_LC)
		return smk_fail(e, SMK_E_ARG, "APDU %02X%02X: %zu bytes of data exceed 65535",
				a->cla, a->ins, a->lc);
	if (a->ne > APDU_EXT_MAX_NE)
		return smk_fail(e, SMK_E_ARG, "APDU %02X%02X: Ne %zu exceeds 65536", a->cla, a->ins,
				a->ne);
	if (a->lc > 0 && a->data == NULL)
		return smk_fail(e, SMK_E_ARG, "APDU %02X%02X: data missing", a->cla, a->ins);
	ext = a->extended || a->lc > APDU_SHORT_MAX_LC || a->ne > APDU_SHORT_MAX_NE;

	r |= smk_buf_add(out, hdr, 4);
	if (a->lc > 0) {
		if (ext) {
			r |= smk_buf_add_byte(out, 0x00);
			r |= smk_buf_add_byte(out, (uint8_t)(a->lc >> 8));
		}
		r |= smk_buf_add_byte(out, (uint8_t)a->lc);
		r |= smk_buf_add(out, a->data, a->lc);
	}
	if (a->ne > 0) {
		if (ext) {
			/* ISO 7816-4 5.1: extended Le is 3 bytes without Lc, 2 with it */
			if (a->lc == 0)
				r |= smk_buf_add_byte(out, 0x00);
			r |= smk_buf_add_byte(out, (uint8_t)(a->ne == 65536 ? 0 : a->ne >> 8));
			r |= smk_buf_add_byte(out, (uint8_t)(a->ne == 65536 ? 0 : a->ne));
		} else {
			r |= smk_buf_add_byte(out, (uint8_t)(a->ne == 256 ? 0 : a->ne));
		}
	}
	if (r < 0)
		return smk_fail(e, SMK_E_NOMEM, "APDU: out of memory");
	return 0;
}

int apdu_parse(const uint8_t *p, size_t n, apdu *a, smk_err *e)
{
	size_t body;

	if (n < 4)
		return smk_fail(e, SMK_E_FORMAT, "command APDU: %zu bytes, header needs 4", n);
	a->cla = p[0];
	a->ins = p[1];
	a->p1 = p[2];
	a->p2 = p[3];
	a->data = NULL;
	a->lc = 0;
	a->ne = 0;
	a->extended = false;
	body = n - 4;
	p += 4;
	if (body == 0) /* case 1 */
		return 0;
	if (body == 1) { /* case 2S */
		a->ne = p[0] ? p[0] : 256;
		return 0;
	}
	if (p[0] != 0x00 || body < 3) {
		/* short: Lc in one byte */
		size_t lc = p[0];

		if (lc == 0)
			return smk_fail(e, SMK_E_FORMAT, "command APDU: short Lc of 0");
		if (body == 1 + lc) { /* case 3S */
			a->data = p + 1;
			a->lc = lc;
			return 0;
		}
		if (body == 2 + lc) { /* case 4S */
			a->data = p + 1;
			a->lc = lc;
			a->ne = p[1 + lc] ? p[1 + lc] : 256;
			return 0;
		}
		return smk_fail(e, SMK_E_FORMAT,
				"command APDU: Lc %zu does not match %zu body bytes", lc, body);
	}
	/* extended: first body byte is 00 */
	a->extended = true;
	if (body == 3) { /* case 2E */
		size_t le = (size_t)p[1] << 8 | p[2];

		a->ne = le ? le : 65536;
		return 0;
	}
	{
		size_t lc = (size_t)p[1] << 8 | p[2];

		if (lc == 0)
			return smk_fail(e, SMK_E_FORMAT, "command APDU: extended Lc of 0");
		if (body == 3 + lc) { /* case 3E */
			a->data = p + 3;
			a->lc = lc;
			return 0;
		}
		if (body == 5 + lc) { /* case 4E */
			size_t le = (size_t)p[3 + lc] << 8 | p[4 + lc];

			a->data = p + 3;
			a->lc = lc;
			a->ne = le ? le : 65536;
			return 0;
		}
		return smk_fail(e, SMK_E_FORMAT,
				"command APDU: extended Lc %zu does not match %zu body bytes", lc,
				body);
	}
}

int rapdu_parse(const uint8_t *p, size_t n, rapdu *r, smk_err *e)
{
	if (n < 2)
		return smk_fail(e, SMK_E_FORMAT, "response APDU: %zu bytes, no status word", n);
	r->data = p;
	r->len = n - 2;
	r->sw = (uint16_t)(p[n - 2] << 8 | p[n - 1]);
	return 0;
}

const char *sw_describe(uint16_t sw)
{
	if ((sw & 0xFFF0) == 0x63C0)
		return "wrong PIN or not verified; tries left in low nibble";
	if ((sw & 0xFF00) == 0x6100)
		return "more response data available";
	switch (sw) {
	case 0x9000:
		return "OK";
	case 0x6282:
		return "end of file reached";
	case 0x6700:
		return "wrong length";
	case 0x6882:
		return "secure messaging not supported";
	case 0x6982:
		return "security status not satisfied (PIN not verified)";
	case 0x6983:
		return "PIN blocked";
	case 0x6984:
		return "reference data not usable (transport PIN, or key use counter exhausted)";
	case 0x6985:
		return "conditions of use not satisfied";
	case 0x6986:
		return "command not allowed";
	case 0x6987:
		return "secure messaging data objects missing";
	case 0x6988:
		return "secure messaging data objects incorrect";
	case 0x6A80:
		return "incorrect data";
	case 0x6A81:
		return "function not supported (algorithm not in the key's list)";
	case 0x6A82:
		return "file or key not found";
	case 0x6A84:
		return "not enough memory";
	case 0x6A86:
		return "incorrect P1/P2";
	case 0x6A88:
		return "referenced data not found";
	case 0x6B00:
		return "wrong parameters";
	case 0x6D00:
		return "instruction not supported";
	case 0x6E00:
		return "class not supported";
	case 0x6F00:
		return "no precise diagnosis";
	}
	return "unknown status";
}

int sw_fail(smk_err *e, uint16_t sw, const char *what)
{
	if (e == NULL)
		return -1;
	if ((sw & 0xFFF0) == 0x63C0)
		smk_fail(e, SMK_E_CARD, "%s refused, SW %04X (wrong PIN, %u tries left)", what, sw,
			 sw & 0x0F);
	else
		smk_fail(e, SMK_E_CARD, "%s refused, SW %04X (%s)", what, sw, sw_describe(sw));
	e->sw = sw;
	return -1;
}
