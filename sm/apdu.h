/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command and response APDUs (ISO 7816-3/-4): short and extended encodings,
 * parsing on the card side (simulator), and status-word names used in error
 * messages ("SW 6982 (security status not satisfied)").
 */
#ifndef SMK_APDU_H
#define SMK_APDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

#define APDU_SHORT_MAX_LC 255
#define APDU_SHORT_MAX_NE 256
#define APDU_EXT_MAX_LC 65535
#define APDU_EXT_MAX_NE 65536

typedef struct apdu {
	uint8_t cla, ins, p1, p2;
	const uint8_t *data; /* command data (not owned) */
	size_t lc;
	size_t ne; /* expected response length Ne: 0 = no Le field; 256 / 65536 = "00" / "0000" */
	bool extended; /* encode with extended Lc/Le even if the sizes would fit short */
} apdu;

typedef struct rapdu {
	const uint8_t *data; /* response data (points into the response bytes) */
	size_t len;
	uint16_t sw;
} rapdu;

/* Append the encoding of a to out. Extended form is used when asked for, or
 * when lc > 255 or ne > 256. */
int apdu_encode(const apdu *a, smk_buf *out, smk_err *e);

/* Parse a command APDU (cases 1, 2S, 3S, 4S, 2E, 3E, 4E). a->data points
 * into p. */
int apdu_parse(const uint8_t *p, size_t n, apdu *a, smk_err *e);

/* Split response bytes into data and SW (needs at least the two SW bytes). */
int rapdu_parse(const uint8_t *p, size_t n, rapdu *r, smk_err *e);

/* Human name of a status word as the SmartCard-HSM uses it. Never NULL. */
const char *sw_describe(uint16_t sw);

/* Fill e with SMK_E_CARD naming the operation and status word; returns -1. */
int sw_fail(smk_err *e, uint16_t sw, const char *what);

#endif
